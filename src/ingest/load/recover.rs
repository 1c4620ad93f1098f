//! Resolving a run that stopped half-way, at the start of the next run into
//! the same target (under its lock) or right after a run fails:
//!
//! * an unfinished run (pending mark, no data commit): its quarantine rows
//!   are deleted (its source rows are read again, since the watermark did not
//!   move) and, unless it recorded itself as `failed`, it is recorded as
//!   `interrupted`;
//! * a run whose data commit happened but whose run record is missing (the
//!   process stopped in between) is recorded as `success` from its mark.
//!
//! Both are idempotent: a crash while resolving is resolved again next time.

use super::IngestJob;
use super::runs::IngestRun;
use super::state::{self, Mark, TargetState};
use crate::error::Result;

impl IngestJob {
    /// Brings the run log and the quarantine in line with `state`.
    pub(super) async fn resolve(&self, state: &TargetState) -> Result<()> {
        if let Some(mark) = &state.unfinished {
            self.discard_quarantine(&mark.run_id).await?;
            if !self.recorded(&mark.run_id).await? {
                tracing::warn!(run_id = %mark.run_id, "ingest run was interrupted before its data commit");
                let record = record_of(
                    &self.qualified(),
                    mark,
                    "interrupted",
                    Some(
                        "the run stopped before its data commit; nothing of it is visible and \
                         its rows are read again by the next run"
                            .into(),
                    ),
                );
                self.shared.runs.append(&[record]).await?;
            }
        }
        if let Some(mark) = &state.current
            && !self.recorded(&mark.run_id).await?
        {
            tracing::warn!(run_id = %mark.run_id, "ingest run committed but was not recorded; recording it");
            self.shared
                .runs
                .append(&[record_of(&self.qualified(), mark, "success", None)])
                .await?;
        }
        Ok(())
    }

    /// After a failed run: re-reads the target and resolves what is unfinished.
    pub(super) async fn resolve_unfinished(&self) -> Result<()> {
        let Some(table) = self.open_target().await? else {
            return Ok(());
        };
        let mut state = state::read(&table).await?;
        // The run log already has this run (as failed).
        state.current = None;
        self.resolve(&state).await
    }

    /// The mark of sequence number `seq` if its data commit is in the target.
    pub(super) async fn committed_mark(&self, seq: i64) -> Option<Mark> {
        let table = self.open_target().await.ok()??;
        let state = state::read(&table).await.ok()?;
        state.current.filter(|m| m.seq == seq)
    }

    async fn recorded(&self, run_id: &str) -> Result<bool> {
        let rows: Vec<IngestRun> = self
            .shared
            .runs
            .read_where(&format!("WHERE run_id = '{}'", run_id.replace('\'', "''")))
            .await?;
        Ok(!rows.is_empty())
    }

    /// Deletes the quarantine rows of `run_id` (no commit when there are none).
    async fn discard_quarantine(&self, run_id: &str) -> Result<()> {
        let catalog = &self.shared.catalog;
        let Some(location) = catalog
            .get(&self.schema, &self.quarantine_name())
            .and_then(|e| e.location)
        else {
            return Ok(());
        };
        let table = catalog.delta_table(&location).await?;
        let (_table, metrics) = table
            .delete()
            .with_predicate(format!("_run_id = '{}'", run_id.replace('\'', "''")))
            .await?;
        if metrics.num_deleted_rows.is_some_and(|n| n > 0) || metrics.num_removed_files > 0 {
            tracing::warn!(
                run_id,
                rows = metrics.num_deleted_rows,
                "deleted the quarantine rows of an unfinished ingest run"
            );
        }
        Ok(())
    }
}

fn record_of(target: &str, mark: &Mark, status: &str, error: Option<String>) -> IngestRun {
    let done = status == "success";
    IngestRun {
        run_id: mark.run_id.clone(),
        target: target.to_string(),
        source: mark.source.clone(),
        mode: mark.mode.clone(),
        status: status.to_string(),
        rows_read: if done { mark.rows_read } else { 0 },
        rows_written: if done { mark.rows_written } else { 0 },
        rows_quarantined: if done { mark.rows_quarantined } else { 0 },
        watermark_column: mark.watermark_column.clone(),
        watermark_before: None,
        watermark_after: if done { mark.watermark.clone() } else { None },
        delta_version: if done { mark.delta_version } else { None },
        started_at: mark.started_at,
        duration_ms: 0,
        error,
    }
}
