//! Automatic compaction of tables that grow by small appends: the
//! prediction log (`voidx.predictions`, one commit per flush) and the
//! append-only system tables (`voidx.ingest_runs`, `voidx.job_runs`,
//! `voidx.alerts`, one commit per event).
//!
//! Every such commit adds one small Parquet file, and a Delta snapshot holds
//! every live file's add action (path, size, statistics) in memory; opening
//! the table, planning a scan and writing a checkpoint all cost in
//! proportion to it. Left alone, a server logging predictions twice a second
//! gained 7,200 files an hour and its memory grew with them (the soak in
//! benchmarks/README.md). So every `storage.compact_every` commits the
//! committer itself bin-packs the small files into a few larger ones
//! (`optimize`, files below `storage.compact_target_mb`) and writes a
//! checkpoint of the result, which keeps the live-file count, and with it the
//! snapshot, bounded by the data's size rather than by the number of commits.
//!
//! Compaction never loses or duplicates a row: it is one Delta commit that
//! removes the small files and adds the compacted ones, which delta-rs' conflict
//! checker reconciles with concurrent appends (they remove nothing). A lost
//! race for the version file is retried with backoff on a fresh snapshot;
//! anything else is logged and left to the next turn — the append it follows
//! is already committed, so compaction is best effort and never fails it.
//!
//! ```no_run
//! # async fn f(table: deltalake::DeltaTable) {
//! let compaction = voidx::storage::compaction::Compaction::new(100, 8 * 1024 * 1024);
//! // after an append committed `table`'s latest version:
//! let compacted = compaction.after_commit(&table, "voidx.predictions").await;
//! # }
//! ```

use std::num::NonZeroU64;
use std::time::Duration;

use deltalake::DeltaTable;

use crate::error::{CommitRace, Result, commit_race};

/// When and how far tables of small appends are compacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compaction {
    /// Compact after every this many commits (0 = never).
    every: u64,
    /// Files at or above this size are left as they are; smaller ones are
    /// packed into files of about this size.
    target_bytes: NonZeroU64,
}

/// Attempts of one compaction that lost the race for its version file.
const MAX_ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(20);

/// What one compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    pub files_removed: u64,
    pub files_added: u64,
}

impl Default for Compaction {
    fn default() -> Self {
        Compaction::new(100, 8 * 1024 * 1024)
    }
}

impl Compaction {
    pub fn new(every: u64, target_bytes: u64) -> Compaction {
        Compaction {
            every,
            target_bytes: NonZeroU64::new(target_bytes).unwrap_or(NonZeroU64::MIN),
        }
    }

    /// Compaction switched off (`storage.compact_every = 0`).
    pub fn off() -> Compaction {
        Compaction::new(0, 1)
    }

    /// Is a compaction due after the commit that made `version`? Every
    /// `every`-th version, so the committer of that version (whichever
    /// process it was) compacts, and two never do it for the same turn.
    pub fn is_due(&self, version: u64) -> bool {
        self.every > 0 && version > 0 && version.is_multiple_of(self.every)
    }

    /// Compacts `table` if the commit that made its version makes it due;
    /// best effort (a failure is logged, the next turn tries again). Returns
    /// the compacted table, or `None` when nothing was done.
    pub async fn after_commit(&self, table: &DeltaTable, name: &str) -> Option<DeltaTable> {
        let version = table.version()?;
        if !self.is_due(version) {
            return None;
        }
        match self.compact(table).await {
            Ok((table, done)) => {
                tracing::debug!(
                    "compacted {name}: {} small files into {} (version {:?})",
                    done.files_removed,
                    done.files_added,
                    table.version()
                );
                Some(table)
            }
            Err(e) => {
                tracing::warn!("could not compact {name} (the next turn tries again): {e}");
                None
            }
        }
    }

    /// Packs `table`'s small files now and checkpoints the result.
    pub async fn compact(&self, table: &DeltaTable) -> Result<(DeltaTable, Compacted)> {
        let mut table = table.clone();
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        let (table, metrics) = loop {
            let run = table
                .clone()
                .optimize()
                .with_target_size(self.target_bytes)
                .await;
            match run {
                Ok(done) => break done,
                Err(e) if attempt < MAX_ATTEMPTS && commit_race(&e) == Some(CommitRace::Lost) => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    attempt += 1;
                    table = deltalake::open_table(table.table_url().clone()).await?;
                }
                Err(e) => return Err(e.into()),
            }
        };
        if metrics.num_files_removed > 0 {
            // The next open reads this checkpoint alone: the compacted files,
            // not the small ones and the commits that added them.
            deltalake::checkpoints::create_checkpoint(&table, None).await?;
        }
        Ok((
            table,
            Compacted {
                files_removed: metrics.num_files_removed,
                files_added: metrics.num_files_added,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::storage::delta;

    #[test]
    fn due_every_nth_version_and_never_when_off() {
        let c = Compaction::new(100, 1 << 20);
        assert!(!c.is_due(0));
        assert!(!c.is_due(99));
        assert!(c.is_due(100));
        assert!(!c.is_due(101));
        assert!(c.is_due(300));
        let off = Compaction::off();
        assert!((0..1000).all(|v| !off.is_due(v)));
        assert!(Compaction::new(1, 1).is_due(1));
    }

    fn rows(from: i64, n: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from_iter_values(from..from + n))],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn small_appends_are_packed_and_every_row_stays() {
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().join("t").display().to_string();
        let batch = rows(0, 3);
        let schema = batch.schema();
        let mut table = delta::create_with(&location, Arc::clone(&schema), vec![batch])
            .await
            .unwrap();
        let compaction = Compaction::new(5, 1 << 20);
        let mut compacted = 0;
        for i in 1..=12 {
            table = delta::append_to(&table, &schema, vec![rows(i * 3, 3)])
                .await
                .unwrap();
            if let Some(t) = compaction.after_commit(&table, "t").await {
                table = t;
                compacted += 1;
            }
        }
        assert!(compacted >= 2, "compacted {compacted} times");
        let fresh = delta::open(&location).await.unwrap();
        let files = fresh.snapshot().unwrap().log_data().num_files();
        assert!(files <= 4, "{files} live files after compaction");
        let (n, _) = delta::stats(&fresh).unwrap();
        assert_eq!(n, 39);
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.register_table("t", fresh.table_provider().await.unwrap())
            .unwrap();
        let got = ctx
            .sql("SELECT count(DISTINCT id), min(id), max(id) FROM t")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&got)
            .unwrap()
            .to_string();
        assert!(text.contains("| 39 "), "{text}");
        assert!(text.contains("| 38 "), "{text}");
    }
}
