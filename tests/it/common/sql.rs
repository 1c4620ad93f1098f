//! Running SQL in tests: statements that must succeed, statements that must
//! fail with a SQLSTATE, and polling a query until its rows say a
//! background job has run.
//!
//! ```ignore
//! exec(&c, "CREATE TABLE t (x BIGINT)").await;
//! refused(&c, "DROP TABLE voidx.models", "42501").await;
//! wait_for(&c, "SELECT status FROM voidx.alerts", 10, |rows| !rows.is_empty()).await;
//! ```

use std::time::{Duration, Instant};

use super::{describe_error, query_text};

/// Runs `sql` (any number of statements), panicking with the SQLSTATE and
/// message if one fails.
pub async fn exec(c: &tokio_postgres::Client, sql: &str) {
    c.batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", describe_error(&e)));
}

/// `SQLSTATE: message [hint: …]` of `sql`, which must fail.
pub async fn error_of(c: &tokio_postgres::Client, sql: &str) -> String {
    match c.batch_execute(sql).await {
        Ok(()) => panic!("expected an error from {sql}"),
        Err(e) => describe_error(&e),
    }
}

/// Like [`error_of`], and the error must have `sqlstate`.
pub async fn refused(c: &tokio_postgres::Client, sql: &str, sqlstate: &str) -> String {
    let e = error_of(c, sql).await;
    assert!(
        e.starts_with(sqlstate),
        "{sql}: expected {sqlstate}, got {e}"
    );
    e
}

/// Polls `sql` until `done` holds for its rows, or panics after `secs`.
pub async fn wait_for(
    c: &tokio_postgres::Client,
    sql: &str,
    secs: u64,
    done: impl Fn(&[Vec<String>]) -> bool,
) -> Vec<Vec<String>> {
    let started = Instant::now();
    loop {
        let rows = query_text(c, sql).await;
        if done(&rows) {
            return rows;
        }
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "timed out waiting on {sql}: last {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}
