//! The one thing the monitor needs from the SQL engine: run a script as the
//! server (jobs, alert rules, retraining), and check SQL without running it.
//!
//! A trait rather than the engine itself, so the monitor sits below the
//! engine and the composition root ([`crate::app`]) wires the two; tests can
//! hand the monitor any runner.
//!
//! ```no_run
//! # async fn f(runner: &dyn voidx::monitor::SqlRunner) -> voidx::error::Result<()> {
//! let results = runner.run_sql("SELECT 1 AS x").await?;
//! assert_eq!(results[0].rows, 1);
//! # Ok(()) }
//! ```

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;

use crate::error::Result;

/// What one statement of a script did.
#[derive(Debug, Clone)]
pub struct Executed {
    /// The result columns, for statements that return rows.
    pub schema: Option<SchemaRef>,
    pub batches: Vec<RecordBatch>,
    /// Rows returned or affected.
    pub rows: usize,
}

#[async_trait]
pub trait SqlRunner: Send + Sync {
    /// Runs every statement of `sql` in one admin session, in order.
    async fn run_sql(&self, sql: &str) -> Result<Vec<Executed>>;

    /// How many statements `sql` holds (parsed, not planned: a job's later
    /// statements may read what its earlier ones create).
    fn count_statements(&self, sql: &str) -> Result<usize>;

    /// Plans the single statement `sql` without running it.
    async fn plan_one(&self, sql: &str) -> Result<()>;
}
