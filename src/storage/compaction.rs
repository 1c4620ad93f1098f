//! Automatic compaction of tables that grow by small appends: the
//! prediction log (`voidx.predictions`, one commit per flush), the
//! append-only system tables (`voidx.ingest_runs`, `voidx.job_runs`,
//! `voidx.alerts`, one commit per event), and every managed user table
//! written by `INSERT`, `UPDATE`, `DELETE`, `MERGE` or `ingest` (an ingest
//! target fed every few seconds, a dbt incremental model run hourly).
//!
//! Every such commit adds one small Parquet file, and a Delta snapshot holds
//! every live file's add action (path, size, statistics) in memory; opening
//! the table, planning a scan and writing a checkpoint all cost in
//! proportion to it. Left alone, a server logging predictions twice a second
//! gained 7,200 files an hour and its memory grew with them (the soak in
//! benchmarks/README.md). So once a table holds `storage.compact_every`
//! small files, the writer that made the commit bin-packs them into a few larger ones
//! (`optimize`, files below `storage.compact_target_mb`) and writes a
//! checkpoint of the result, which keeps the live-file count, and with it the
//! snapshot, bounded by the data's size rather than by the number of commits.
//!
//! Compaction never loses or duplicates a row: it is one Delta commit that
//! removes the small files and adds the compacted ones, which delta-rs' conflict
//! checker reconciles with concurrent appends (they remove nothing). A
//! concurrent `UPDATE`, `DELETE` or `MERGE` of a user table that read the
//! same files does conflict: whichever commits second loses — compaction
//! gives up until the next commit, a statement answers 40001 and is retried
//! by its client, as after any concurrent rewrite (docs/durability.md). A lost
//! race for the version file is retried with backoff on a fresh snapshot;
//! anything else is logged and left to the next turn — the append it follows
//! is already committed, so compaction is best effort and never fails it.
//!
//! ```no_run
//! # async fn f(table: deltalake::DeltaTable) {
//! let compaction = voidx::storage::compaction::Compaction::new(100, 8 * 1024 * 1024);
//! // after a commit made `table`'s latest version (a no-op until 100 small files):
//! let compacted = compaction.after_commit(&table, "voidx.predictions").await;
//! # }
//! ```

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::time::Duration;

use deltalake::DeltaTable;

use crate::error::{CommitRace, Result, commit_race};

/// When and how far tables of small appends are compacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compaction {
    /// Compact once a table holds this many small files that can be packed
    /// (0 = never); each small append adds one.
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

    /// Is a compaction due? When `table` holds at least `every` small files
    /// that `optimize` would pack: files below the target size, counted only
    /// in partitions holding two or more of them (a lone small file per
    /// partition is what compaction leaves behind, and packing it with
    /// nothing would rewrite it for no gain). Read from the snapshot already
    /// in memory, so checking after every commit costs no I/O; after a
    /// compaction the count starts again from about one per partition, so
    /// compactions come every `every` appends, whoever makes them.
    pub fn is_due(&self, table: &DeltaTable) -> bool {
        if self.every == 0 {
            return false;
        }
        let Ok(snapshot) = table.snapshot() else {
            return false;
        };
        let target = i64::try_from(self.target_bytes.get()).unwrap_or(i64::MAX);
        let mut small: HashMap<String, u64> = HashMap::new();
        for file in snapshot.log_data() {
            if file.size() < target {
                let path = file.path();
                // Partitioned files live under `column=value/` directories.
                let partition = path.rsplit_once('/').map_or("", |(dir, _)| dir);
                *small.entry(partition.to_string()).or_default() += 1;
            }
        }
        let packable: u64 = small.values().filter(|n| **n >= 2).sum();
        packable >= self.every
    }

    /// Compacts `table` if [`Compaction::is_due`] says so; best effort (a
    /// failure is logged, the next commit tries again). Returns the
    /// compacted table, or `None` when nothing was done.
    pub async fn after_commit(&self, table: &DeltaTable, name: &str) -> Option<DeltaTable> {
        if !self.is_due(table) {
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
                tracing::warn!("could not compact {name} (the next commit tries again): {e}");
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
            // Log files past `delta.logRetentionDuration` (30 days unless
            // set) go here, once per compaction, instead of after every
            // commit: that cleanup lists and stats the whole log
            // (`delta::LOG_CLEANUP_OFF`).
            if let Err(e) = deltalake::checkpoints::cleanup_metadata(&table, None).await {
                tracing::warn!(
                    "could not clean up expired log files of {}: {e}",
                    table.table_url()
                );
            }
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
    use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

    use super::*;
    use crate::storage::delta;

    #[tokio::test]
    async fn due_at_n_small_files_and_never_when_off() {
        let (_dir, _, schema, mut table) = table_of(1).await;
        let c = Compaction::new(4, 1 << 20);
        for i in 1..4 {
            assert!(!c.is_due(&table), "due with {i} files");
            table = delta::append_to(&table, &schema, vec![rows(i, 1)])
                .await
                .unwrap();
        }
        assert!(c.is_due(&table), "4 small files");
        assert!(!Compaction::off().is_due(&table));
        // Files at or above the target are not small.
        assert!(!Compaction::new(4, 1).is_due(&table));
        // What a compaction leaves (one file) is not due again.
        let (packed, done) = c.compact(&table).await.unwrap();
        assert_eq!((done.files_removed, done.files_added), (4, 1));
        assert!(!c.is_due(&packed));
    }

    /// A new table holding `rows(0, n)` in a temporary directory (kept
    /// while the first element lives), its location and schema.
    async fn table_of(n: i64) -> (tempfile::TempDir, String, SchemaRef, DeltaTable) {
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().join("t").display().to_string();
        let batch = rows(0, n);
        let schema = batch.schema();
        let table = delta::create_with(&location, Arc::clone(&schema), vec![batch])
            .await
            .unwrap();
        (dir, location, schema, table)
    }

    fn rows(from: i64, n: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from_iter_values(from..from + n))],
        )
        .unwrap()
    }

    /// Tables VOIDX creates leave expired-log cleanup to compaction: delta-rs'
    /// own cleanup lists and stats the whole log after every commit.
    #[tokio::test]
    async fn created_tables_do_not_clean_their_log_at_every_commit() {
        use deltalake::table::config::TablePropertiesExt;
        let (_dir, _, schema, table) = table_of(1).await;
        let table = delta::append_to(&table, &schema, vec![rows(1, 1)])
            .await
            .unwrap();
        let config = table.snapshot().unwrap().table_config();
        assert!(!config.enable_expired_log_cleanup());
        // The compaction that now cleans the log keeps every row.
        let (table, done) = Compaction::new(2, 1 << 20).compact(&table).await.unwrap();
        assert_eq!(done.files_removed, 2);
        assert_eq!(delta::stats(&table).unwrap().0, 2);
    }

    #[tokio::test]
    async fn small_appends_are_packed_and_every_row_stays() {
        let (_dir, location, schema, mut table) = table_of(3).await;
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
