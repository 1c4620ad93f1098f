//! The ingest state of a target, kept in the target's own Delta table so
//! it is read in O(1) from the snapshot (whatever the length of the history)
//! and made current by the data commit itself:
//!
//! * every data commit of a run carries the Delta application transaction
//!   `voidx.ingest` with the run's sequence number (`txn` action; Delta keeps
//!   the latest version per application in the snapshot and its checkpoints);
//! * the table property `voidx.ingest.state` holds two marks (run id,
//!   watermark, counts): the `committed` one and the `pending` one of the run
//!   in progress, written by a property commit *before* the data commit.
//!
//! A mark counts only if its sequence number is the transaction version: a
//! pending mark whose data commit never happened is simply not current (the
//! watermark stays where it was) and names the run whose quarantine rows
//! must go. [`plan`] makes that decision; it is a pure function.

use std::collections::HashMap;

use deltalake::DeltaTable;
use deltalake::kernel::transaction::CommitProperties;
use serde::{Deserialize, Serialize};

use crate::error::{Result, VoidxError};

/// The table property holding the marks.
pub(super) const STATE_KEY: &str = "voidx.ingest.state";
/// The Delta application id of ingest data commits.
pub(super) const TXN_APP_ID: &str = "voidx.ingest";
/// The commit-metadata key of ingest commits (for `table_history`).
pub(super) const COMMIT_KEY: &str = "voidx.ingest";

/// What one run commits: enough to resume from it and to record it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(super) struct Mark {
    pub seq: i64,
    pub run_id: String,
    pub watermark_column: Option<String>,
    pub watermark: Option<String>,
    pub rows_read: i64,
    pub rows_written: i64,
    pub rows_quarantined: i64,
    pub started_at: i64,
    pub source: String,
    pub mode: String,
    /// Known only after the data commit.
    #[serde(default, skip_serializing)]
    pub delta_version: Option<i64>,
}

/// The property's content.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(super) struct Stored {
    pub committed: Option<Mark>,
    pub pending: Option<Mark>,
}

/// The decided state of a target.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct TargetState {
    /// The sequence number of the last data commit (0: none yet).
    pub seq: i64,
    /// The mark of that data commit.
    pub current: Option<Mark>,
    /// A run that committed its pending mark (and perhaps quarantine rows)
    /// but never its data: stopped, failed or crashed.
    pub unfinished: Option<Mark>,
}

/// Which mark is current, from the transaction version and the property.
pub(super) fn plan(txn: Option<i64>, stored: Stored) -> TargetState {
    let seq = txn.unwrap_or(0);
    let mut state = TargetState {
        seq,
        ..Default::default()
    };
    for mark in [stored.committed, stored.pending].into_iter().flatten() {
        if mark.seq == seq {
            state.current = Some(mark);
        } else if mark.seq > seq {
            state.unfinished = Some(mark);
        }
    }
    state
}

/// The state of `table` as of its loaded snapshot.
pub(super) async fn read(table: &DeltaTable) -> Result<TargetState> {
    let snapshot = table.snapshot()?;
    let txn = snapshot
        .transaction_version(table.log_store().as_ref(), TXN_APP_ID)
        .await?;
    let stored = match snapshot.metadata().configuration().get(STATE_KEY) {
        Some(text) => serde_json::from_str(text).map_err(|e| {
            VoidxError::Internal(format!(
                "the table property {STATE_KEY} is not readable ({e}). Help: it is written by ingest; \
                 ALTER TABLE … SET TBLPROPERTIES must not change it"
            ))
        })?,
        None => Stored::default(),
    };
    let mut state = plan(txn, stored);
    if let Some(mark) = &mut state.current {
        mark.delta_version = table.version().map(|v| v as i64);
    }
    Ok(state)
}

/// Commits `mark` as pending, keeping the current mark: one metadata commit.
/// Until the data commit carries `mark.seq` it changes nothing a reader sees.
pub(super) async fn commit_pending(
    table: DeltaTable,
    state: &TargetState,
    mark: &Mark,
) -> Result<DeltaTable> {
    let stored = Stored {
        committed: state.current.clone(),
        pending: Some(mark.clone()),
    };
    let text = serde_json::to_string(&stored)
        .map_err(|e| VoidxError::Internal(format!("cannot encode the ingest state: {e}")))?;
    let commit = CommitProperties::default().with_metadata([(
        COMMIT_KEY.to_string(),
        serde_json::json!({"run_id": mark.run_id, "step": "pending"}),
    )]);
    Ok(table
        .set_tbl_properties()
        .with_properties(HashMap::from([(STATE_KEY.to_string(), text)]))
        .with_raise_if_not_exists(false)
        .with_commit_properties(commit)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(seq: i64, run: &str, watermark: &str) -> Mark {
        Mark {
            seq,
            run_id: run.into(),
            watermark_column: Some("ts".into()),
            watermark: Some(watermark.into()),
            rows_read: 0,
            rows_written: 0,
            rows_quarantined: 0,
            started_at: 0,
            source: String::new(),
            mode: "append".into(),
            delta_version: None,
        }
    }

    #[test]
    fn the_transaction_version_decides_which_mark_counts() {
        // Nothing yet.
        assert_eq!(plan(None, Stored::default()), TargetState::default());
        // Pending committed, data commit made: pending is current.
        let s = plan(
            Some(2),
            Stored {
                committed: Some(mark(1, "a", "10")),
                pending: Some(mark(2, "b", "20")),
            },
        );
        assert_eq!(s.current.as_ref().map(|m| m.run_id.as_str()), Some("b"));
        assert_eq!(s.unfinished, None);
        // Crash between the pending commit and the data commit: the old
        // mark stays current, the pending run is unfinished.
        let s = plan(
            Some(1),
            Stored {
                committed: Some(mark(1, "a", "10")),
                pending: Some(mark(2, "b", "20")),
            },
        );
        assert_eq!(s.current.as_ref().map(|m| m.run_id.as_str()), Some("a"));
        assert_eq!(s.unfinished.as_ref().map(|m| m.run_id.as_str()), Some("b"));
        // First run crashed before its data commit.
        let s = plan(
            None,
            Stored {
                committed: None,
                pending: Some(mark(1, "a", "10")),
            },
        );
        assert_eq!((s.seq, s.current.is_none()), (0, true));
        assert_eq!(s.unfinished.map(|m| m.run_id), Some("a".into()));
    }

    #[test]
    fn marks_round_trip_without_the_version() {
        let mut m = mark(3, "r", "2026-01-01T00:00:00");
        m.delta_version = Some(7);
        let text = serde_json::to_string(&m).unwrap();
        assert!(!text.contains("delta_version"));
        let back: Mark = serde_json::from_str(&text).unwrap();
        assert_eq!(back.delta_version, None);
    }
}
