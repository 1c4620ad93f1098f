//! Progress of long work (`train`, `ingest`, `optimize`, `retrain`) as it
//! goes, for the one statement that asked for it.
//!
//! The front end that runs a statement opens a [`channel`] and runs the
//! statement inside [`scope`]; code anywhere below it calls
//! [`current`]`().note(…)`. The pgwire handler turns each note into a
//! PostgreSQL `NOTICE` while the statement runs (psql prints them), and
//! `voidx sql` draws a progress bar. Outside a scope a note goes nowhere, so
//! background jobs and REST calls pay nothing.
//!
//! A task-local rather than a DataFusion session extension: the shared
//! session context is reused by every statement without a copy (the hot
//! path of issue 16), and a per-statement extension would need one. Work a
//! table function spawns onto another task (training on the blocking pool)
//! takes its [`Progress`] along explicitly.
//!
//! ```
//! # async fn f() {
//! let (progress, mut notes) = voidx::progress::channel();
//! voidx::progress::scope(progress, async {
//!     voidx::progress::current().note("fold 1/5: rmse 1,712", Some((1, 5)));
//! })
//! .await;
//! assert_eq!(notes.recv().await.map(|n| n.message), Some("fold 1/5: rmse 1,712".into()));
//! # }
//! ```

use std::future::Future;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// One step of progress: what happened, and how far along (`done` of `total`) if known.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub message: String,
    pub step: Option<(u64, u64)>,
}

/// Where notes of the running statement go; a no-op outside a [`scope`].
#[derive(Debug, Clone, Default)]
pub struct Progress(Option<UnboundedSender<Note>>);

tokio::task_local! {
    static CURRENT: Progress;
}

/// A sender for one statement and the receiver its front end drains.
pub fn channel() -> (Progress, UnboundedReceiver<Note>) {
    let (tx, rx) = unbounded_channel();
    (Progress(Some(tx)), rx)
}

/// Run `fut` with `progress` as the [`current`] one.
pub async fn scope<F: Future>(progress: Progress, fut: F) -> F::Output {
    CURRENT.scope(progress, fut).await
}

/// The running statement's progress (a no-op outside a [`scope`]).
pub fn current() -> Progress {
    CURRENT.try_with(Progress::clone).unwrap_or_default()
}

impl Progress {
    /// Report one step. Never blocks and never fails: a client that went
    /// away does not stop the work it started.
    pub fn note(&self, message: impl Into<String>, step: Option<(u64, u64)>) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(Note {
                message: message.into(),
                step,
            });
        }
    }

    /// Whether anyone listens (skip building messages when not).
    pub fn is_listening(&self) -> bool {
        self.0.as_ref().is_some_and(|tx| !tx.is_closed())
    }
}

/// `1712.43` → `1,712.4`, `0.0123` → `0.0123`: scores as people read them.
pub fn number(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x.abs() < 10.0 {
        return format!("{x:.4}");
    }
    let decimals = if x.abs() < 1000.0 { 2 } else { 1 };
    let text = format!("{:.*}", decimals, x.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if x < 0.0 { "-" } else { "" };
    format!("{sign}{grouped}.{frac}")
}

/// `1234567` → `1,234,567`.
pub fn count(n: u64) -> String {
    let text = n.to_string();
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i > 0 && (text.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(number(1712.43), "1,712.4");
        assert_eq!(number(-1234567.0), "-1,234,567.0");
        assert_eq!(number(171.234), "171.23");
        assert_eq!(number(0.01234), "0.0123");
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1234567), "1,234,567");
    }

    #[tokio::test]
    async fn notes_reach_only_their_own_scope() {
        current().note("nobody listens", None);
        let (a, mut a_rx) = channel();
        let (b, mut b_rx) = channel();
        scope(a, async { current().note("to a", None) }).await;
        scope(b, async {
            let inner = current();
            // Spawned work takes its Progress along explicitly.
            tokio::spawn(async move { inner.note("to b, from a task", Some((1, 2))) })
                .await
                .ok();
        })
        .await;
        assert_eq!(a_rx.recv().await.map(|n| n.message), Some("to a".into()));
        assert!(a_rx.recv().await.is_none());
        let b_note = b_rx.recv().await;
        assert_eq!(b_note.as_ref().and_then(|n| n.step), Some((1, 2)));
        assert!(b_rx.recv().await.is_none());
    }
}
