//! The registry's Delta-backed system tables and their rows.
//!
//! | table | written | one row per |
//! |---|---|---|
//! | `voidx.models` | rewritten on every change (small) | model version |
//! | `voidx.runs` | appended as trials finish | trial × fold |
//! | `voidx.feature_importance` | appended at registration | version × feature |
//! | `voidx.deployments` | appended | deploy / rollback / split event, ordered by `seq` |
//! | `voidx.model_artifacts` | appended at registration | version (forest JSON) |
//!
//! A version exists once its `voidx.models` row is committed; rows of the
//! other tables naming a version without one are left by a registration
//! that did not finish, and [`super::recovery`] removes them at start.
//!
//! Rows are serde structs turned into Arrow through `arrow-json`, so a
//! column is declared once here and nowhere else.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn f(name: &str, t: DataType, nullable: bool) -> Field {
    Field::new(name, t, nullable)
}

/// One row of `voidx.models`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelVersion {
    pub name: String,
    pub version: i64,
    /// `staging`, `production` or `archived`.
    pub stage: String,
    pub traffic_share: f64,
    pub task: String,
    pub algorithm: String,
    pub objective: String,
    pub metric: String,
    pub cv_mean: Option<f64>,
    pub cv_std: Option<f64>,
    pub baseline: Option<f64>,
    pub improvement: Option<f64>,
    pub train_score: Option<f64>,
    pub rows: i64,
    /// JSON array of feature names, in the order `predict` takes them.
    pub features: String,
    /// JSON: the chosen parameters, or ensemble members with weights.
    pub params: String,
    /// JSON object: table → Delta version read by the training query.
    pub data_versions: String,
    /// What `train` was called with, enough to run it again.
    pub query: Option<String>,
    pub target: Option<String>,
    pub options: String,
    pub seed: Option<i64>,
    /// `train` or `import:xgboost` / `import:lightgbm`.
    pub source: String,
    pub duration_ms: i64,
    pub created_at: i64,
}

pub fn models_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        f("name", DataType::Utf8, false),
        f("version", DataType::Int64, false),
        f("stage", DataType::Utf8, false),
        f("traffic_share", DataType::Float64, false),
        f("task", DataType::Utf8, false),
        f("algorithm", DataType::Utf8, false),
        f("objective", DataType::Utf8, false),
        f("metric", DataType::Utf8, false),
        f("cv_mean", DataType::Float64, true),
        f("cv_std", DataType::Float64, true),
        f("baseline", DataType::Float64, true),
        f("improvement", DataType::Float64, true),
        f("train_score", DataType::Float64, true),
        f("rows", DataType::Int64, false),
        f("features", DataType::Utf8, false),
        f("params", DataType::Utf8, false),
        f("data_versions", DataType::Utf8, false),
        f("query", DataType::Utf8, true),
        f("target", DataType::Utf8, true),
        f("options", DataType::Utf8, false),
        f("seed", DataType::Int64, true),
        f("source", DataType::Utf8, false),
        f("duration_ms", DataType::Int64, false),
        f("created_at", ts(), false),
    ]))
}

/// One row of `voidx.runs`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Run {
    pub model: String,
    /// The version this training reserved (it exists in voidx.models only
    /// if the training finished).
    pub version: i64,
    pub trial: i64,
    /// NULL for a trial's CV summary row.
    pub fold: Option<i64>,
    /// `trial`, `member`, `baseline`, or `abandoned` (one row marking a
    /// version whose registration did not finish, so its number stays used).
    pub role: String,
    pub params: String,
    pub metric: String,
    pub score: f64,
    pub duration_ms: i64,
    pub created_at: i64,
}

pub fn runs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        f("model", DataType::Utf8, false),
        f("version", DataType::Int64, false),
        f("trial", DataType::Int64, false),
        f("fold", DataType::Int64, true),
        f("role", DataType::Utf8, false),
        f("params", DataType::Utf8, false),
        f("metric", DataType::Utf8, false),
        f("score", DataType::Float64, false),
        f("duration_ms", DataType::Int64, false),
        f("created_at", ts(), false),
    ]))
}

/// One row of `voidx.feature_importance`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Importance {
    pub model: String,
    pub version: i64,
    pub feature: String,
    /// 1 = most important by mean |SHAP|.
    pub rank: i64,
    pub gain: f64,
    pub mean_abs_shap: f64,
}

pub fn importance_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        f("model", DataType::Utf8, false),
        f("version", DataType::Int64, false),
        f("feature", DataType::Utf8, false),
        f("rank", DataType::Int64, false),
        f("gain", DataType::Float64, false),
        f("mean_abs_shap", DataType::Float64, false),
    ]))
}

/// One row of `voidx.deployments`: production became `version`, or the
/// traffic was split between versions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Deployment {
    pub model: String,
    /// `deploy` (pushes a version), `rollback` (pops the latest deploy) or
    /// `split` (A/B shares in `traffic`).
    pub action: String,
    pub version: Option<i64>,
    pub previous_version: Option<i64>,
    /// `train` (automatic promotion), `deploy(...)`, `rollback(...)`, `ab_split(...)`.
    pub reason: String,
    /// JSON object version → share, for `split` events.
    pub traffic: Option<String>,
    pub created_at: i64,
    /// Position in the log: events replay in `seq` order, never by clock.
    /// Tables written before the column existed get it at start (in
    /// `created_at`, then file, order).
    #[serde(default)]
    pub seq: i64,
}

pub fn deployments_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        f("model", DataType::Utf8, false),
        f("action", DataType::Utf8, false),
        f("version", DataType::Int64, true),
        f("previous_version", DataType::Int64, true),
        f("reason", DataType::Utf8, false),
        f("traffic", DataType::Utf8, true),
        f("created_at", ts(), false),
        f("seq", DataType::Int64, false),
    ]))
}

/// One row of `voidx.model_artifacts`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ArtifactRow {
    pub model: String,
    pub version: i64,
    pub format: String,
    pub artifact: String,
}

pub fn artifacts_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        f("model", DataType::Utf8, false),
        f("version", DataType::Int64, false),
        f("format", DataType::Utf8, false),
        f("artifact", DataType::Utf8, false),
    ]))
}

pub use crate::storage::system_table::{from_batches, to_batch};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_through_arrow() {
        let rows = vec![Deployment {
            model: "m".into(),
            action: "deploy".into(),
            version: Some(2),
            previous_version: None,
            reason: "train".into(),
            traffic: None,
            created_at: 1_700_000_000_123,
            seq: 7,
        }];
        let batch = to_batch(&deployments_schema(), &rows).unwrap();
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(from_batches::<Deployment>(&[batch]).unwrap(), rows);
    }
}
