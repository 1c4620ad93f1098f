//! Progress notes of a running statement as PostgreSQL `NOTICE` messages
//! (severity NOTICE, SQLSTATE 00000), sent while the statement runs, as
//! PostgreSQL's own `RAISE NOTICE` is: psql prints each one as it arrives
//! (`NOTICE:  fold 3/5: rmse 1,712.4`), psycopg hands them to
//! `connection.add_notice_handler`, JDBC to `getWarnings()`.

use std::future::Future;

use futures::{Sink, SinkExt};
use pgwire::error::ErrorInfo;
use pgwire::messages::PgWireBackendMessage;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::progress::Note;

fn notice(note: Note) -> PgWireBackendMessage {
    PgWireBackendMessage::NoticeResponse(
        ErrorInfo::new("NOTICE".into(), "00000".into(), note.message).into(),
    )
}

/// Runs `work` to its end, sending each note it makes to `client` meanwhile.
/// A client that cannot take a notice (gone, or its buffer full) misses
/// it; the work goes on, and what it answers is sent (or not) as before.
pub async fn forward<C, F>(client: &mut C, mut notes: UnboundedReceiver<Note>, work: F) -> F::Output
where
    C: Sink<PgWireBackendMessage> + Unpin + Send + ?Sized,
    F: Future,
{
    let mut work = std::pin::pin!(work);
    let mut open = true;
    let output = loop {
        tokio::select! {
            biased;
            output = &mut work => break output,
            note = notes.recv(), if open => match note {
                Some(note) => {
                    let _ = client.send(notice(note)).await;
                }
                None => open = false,
            },
        }
    };
    // Notes made just before the work ended.
    while let Ok(note) = notes.try_recv() {
        let _ = client.send(notice(note)).await;
    }
    output
}
