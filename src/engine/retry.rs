//! Concurrent writers: a DML statement whose Delta commit lost a race runs
//! again on the newer snapshot, with jittered exponential backoff, so eight
//! clients inserting into one table all succeed as they would in PostgreSQL.
//!
//! Delta's commit loop already retries a commit its conflict checker can
//! reconcile (blind appends always), but without backoff and at most 15
//! times; under a burst of writers it gives up with `MaxCommitAttempts`,
//! or another writer takes the version file first. Those races
//! ([`CommitRace::Lost`]) are always safe to re-run: nothing was committed
//! and nothing read has changed in a way that matters. A real conflict
//! ([`CommitRace::Conflict`]: the other commit removed or rewrote files this
//! UPDATE/DELETE/MERGE read) is retried only for INSERT (an append reads
//! nothing of the target); otherwise it is SQLSTATE 40001 for the client.
//!
//! ```text
//! INSERT INTO t VALUES (1)   -- lost the race for version 12 → sleeps ~5 ms, commits 13
//! ```

use std::future::Future;
use std::time::{Duration, Instant};

use datafusion::sql::sqlparser::ast::Statement as PgStatement;

use super::Stmt;
use crate::error::{CommitRace, Result};

/// Attempts per statement, including the first, at most.
const MAX_ATTEMPTS: u32 = 64;
/// How long a statement without a timeout keeps re-running lost races;
/// one with a timeout keeps on until it ends. Writers in this process take
/// turns ([`super::writers`]), so only writers elsewhere (replicas,
/// `ingest`, the registry) race, and a burst of them can take a while.
const RETRY_BUDGET: Duration = Duration::from_secs(30);
const FIRST_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    /// INSERT: an append, never in logical conflict.
    Append,
    /// UPDATE, DELETE, MERGE: read the table, then rewrite files.
    Rewrite,
}

fn write_kind(stmt: &Stmt) -> Option<Write> {
    match stmt.as_pg()? {
        PgStatement::Insert(_) => Some(Write::Append),
        PgStatement::Update { .. } | PgStatement::Delete(_) | PgStatement::Merge { .. } => {
            Some(Write::Rewrite)
        }
        _ => None,
    }
}

fn retryable(kind: Write, race: CommitRace) -> bool {
    match (kind, race) {
        (_, CommitRace::Lost) => true,
        (Write::Append, CommitRace::Conflict) => true,
        (Write::Rewrite, CommitRace::Conflict) => false,
    }
}

/// Backoff before attempt `n + 1` (n ≥ 1): 5 ms doubling to 500 ms, with
/// full jitter so the losers do not collide again in lockstep.
fn backoff(n: u32) -> Duration {
    let ceiling = FIRST_BACKOFF
        .saturating_mul(1u32 << n.min(16))
        .min(MAX_BACKOFF);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(500).max(1);
    Duration::from_millis(rand::random_range(1..=millis))
}

/// Run `attempt` (given the time left of the statement's timeout) until it
/// succeeds, fails for another reason, or the race cannot be retried.
pub async fn run<T, F, Fut>(stmt: &Stmt, timeout: Option<Duration>, mut attempt: F) -> Result<T>
where
    F: FnMut(Option<Duration>) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let Some(kind) = write_kind(stmt) else {
        return attempt(timeout).await;
    };
    let started = Instant::now();
    let budget = timeout.unwrap_or(RETRY_BUDGET);
    let mut n = 1;
    loop {
        let left = timeout.map(|t| t.saturating_sub(started.elapsed()));
        match attempt(left).await {
            Err(e)
                if n < MAX_ATTEMPTS
                    && e.commit_race().is_some_and(|race| retryable(kind, race)) =>
            {
                let pause = backoff(n);
                if started.elapsed() + pause >= budget {
                    return Err(e);
                }
                tracing::debug!(attempt = n, ?pause, error = %e, "commit race; running the statement again");
                tokio::time::sleep(pause).await;
                n += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::VoidxError;
    use deltalake::DeltaTableError;
    use deltalake::kernel::transaction::{CommitConflictError, TransactionError};

    fn stmt(sql: &str) -> Stmt {
        super::super::parse::parse(sql).unwrap().remove(0)
    }

    fn lost() -> VoidxError {
        VoidxError::Delta(DeltaTableError::Transaction {
            source: TransactionError::MaxCommitAttempts(15),
        })
    }

    fn conflict() -> VoidxError {
        VoidxError::Delta(DeltaTableError::Transaction {
            source: TransactionError::CommitConflict(CommitConflictError::ConcurrentDeleteRead),
        })
    }

    #[tokio::test]
    async fn inserts_retry_until_they_commit() {
        let mut calls = 0;
        let out = run(&stmt("INSERT INTO t VALUES (1)"), None, |_| {
            calls += 1;
            let fail = calls < 4;
            async move { if fail { Err(lost()) } else { Ok(calls) } }
        })
        .await;
        assert_eq!(out.unwrap(), 4);
    }

    #[tokio::test]
    async fn a_real_conflict_of_an_update_is_not_retried() {
        let mut calls = 0;
        let out: Result<()> = run(&stmt("UPDATE t SET a = 1"), None, |_| {
            calls += 1;
            async { Err(conflict()) }
        })
        .await;
        assert_eq!(calls, 1);
        assert_eq!(out.unwrap_err().sqlstate(), "40001");
    }

    #[tokio::test]
    async fn reads_and_endless_races_stop() {
        let mut calls = 0;
        let out: Result<()> = run(&stmt("SELECT 1"), None, |_| {
            calls += 1;
            async { Err(lost()) }
        })
        .await;
        assert!(out.is_err());
        assert_eq!(calls, 1);
        // Lost races are re-run until the statement's time is up, then 40001.
        let mut calls = 0;
        let started = Instant::now();
        let out: Result<()> = run(
            &stmt("DELETE FROM t"),
            Some(Duration::from_millis(300)),
            |_| {
                calls += 1;
                async { Err(lost()) }
            },
        )
        .await;
        assert_eq!(out.unwrap_err().sqlstate(), "40001");
        assert!(calls > 1 && calls <= MAX_ATTEMPTS, "{calls} attempts");
        assert!(
            started.elapsed() < Duration::from_millis(300),
            "ran past its timeout"
        );
    }

    #[test]
    fn backoff_is_bounded() {
        for n in 1..40 {
            let b = backoff(n);
            assert!(b >= Duration::from_millis(1) && b <= MAX_BACKOFF);
        }
    }
}
