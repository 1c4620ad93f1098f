//! `voidx.ingest_runs`: one row per run, appended once the run's outcome is
//! known. `status` is `success` (its data commit made it; also recorded by
//! the next run when the process stopped right after that commit),
//! `failed` (an error; nothing of it is visible) or `interrupted` (the
//! process stopped before the data commit; recorded by the next run into
//! the same target, which also deletes the run's quarantine rows).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::storage::system_table::ts;

/// One row of `voidx.ingest_runs`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IngestRun {
    pub run_id: String,
    pub target: String,
    pub source: String,
    pub mode: String,
    pub status: String,
    pub rows_read: i64,
    pub rows_written: i64,
    pub rows_quarantined: i64,
    pub watermark_column: Option<String>,
    pub watermark_before: Option<String>,
    pub watermark_after: Option<String>,
    pub delta_version: Option<i64>,
    pub started_at: i64,
    pub duration_ms: i64,
    pub error: Option<String>,
}

pub fn runs_schema() -> SchemaRef {
    let f = |n: &str, t: DataType, null: bool| Field::new(n, t, null);
    Arc::new(Schema::new(vec![
        f("run_id", DataType::Utf8, false),
        f("target", DataType::Utf8, false),
        f("source", DataType::Utf8, false),
        f("mode", DataType::Utf8, false),
        f("status", DataType::Utf8, false),
        f("rows_read", DataType::Int64, false),
        f("rows_written", DataType::Int64, false),
        f("rows_quarantined", DataType::Int64, false),
        f("watermark_column", DataType::Utf8, true),
        f("watermark_before", DataType::Utf8, true),
        f("watermark_after", DataType::Utf8, true),
        f("delta_version", DataType::Int64, true),
        f("started_at", ts(), false),
        f("duration_ms", DataType::Int64, false),
        f("error", DataType::Utf8, true),
    ]))
}
