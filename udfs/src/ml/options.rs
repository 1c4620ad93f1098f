//! The JSON options of `train(model, query, target, options)`, parsed once
//! and validated with messages that name the offending key.
//!
//! ```
//! use voidx_udfs::ml::options::TrainOptions;
//! let o = TrainOptions::parse(r#"{"task": "classification", "cv_folds": 3, "max_depth": 3}"#).unwrap();
//! assert_eq!(o.cv_folds, 3);
//! assert_eq!(o.params.max_depth, 3);
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ml::MlError;
use crate::ml::metrics::Metric;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    Regression,
    Classification,
}

impl Task {
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Regression => "regression",
            Task::Classification => "classification",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    SquaredError,
    AbsoluteError,
    LogLoss,
}

/// Parameters of one boosted-tree configuration (one search trial or one
/// ensemble member).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub n_estimators: usize,
    pub learning_rate: f64,
    pub max_depth: u32,
    #[serde(alias = "min_data_in_leaf")]
    pub min_leaf_size: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            n_estimators: 100,
            learning_rate: 0.1,
            max_depth: 4,
            min_leaf_size: 20,
        }
    }
}

impl Params {
    pub const KEYS: &'static [&'static str] = &[
        "n_estimators",
        "learning_rate",
        "max_depth",
        "min_leaf_size",
        "min_data_in_leaf",
    ];

    pub fn validate(&self) -> Result<(), MlError> {
        let bad = |m: String| Err(MlError::InvalidOption(m));
        if !(1..=5000).contains(&self.n_estimators) {
            return bad(format!(
                "n_estimators must be between 1 and 5000, got {}",
                self.n_estimators
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return bad(format!(
                "learning_rate must be in (0, 1], got {}",
                self.learning_rate
            ));
        }
        if !(1..=16).contains(&self.max_depth) {
            return bad(format!(
                "max_depth must be between 1 and 16, got {}",
                self.max_depth
            ));
        }
        if self.min_leaf_size == 0 {
            return bad("min_leaf_size must be at least 1".into());
        }
        Ok(())
    }

    /// Sets one parameter by name (search and ensemble members use it).
    pub fn set(&mut self, name: &str, value: f64) -> Result<(), MlError> {
        match name {
            "n_estimators" => self.n_estimators = value.round().max(1.0) as usize,
            "learning_rate" => self.learning_rate = value,
            "max_depth" => self.max_depth = value.round().max(1.0) as u32,
            "min_leaf_size" | "min_data_in_leaf" => {
                self.min_leaf_size = value.round().max(1.0) as usize
            }
            other => {
                return Err(MlError::InvalidOption(format!(
                    "unknown parameter \"{other}\"; searchable parameters are n_estimators, learning_rate, max_depth, min_leaf_size"
                )));
            }
        }
        Ok(())
    }
}

/// One searchable range: `[low, high]`, `[low, high, "log"]` or a list of
/// choices `{"choices": [..]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Range {
    Choices { choices: Vec<f64> },
    Bounds(f64, f64),
    Scaled(f64, f64, String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchOptions {
    pub trials: usize,
    /// Parameter → range. Missing: a default space over all parameters.
    #[serde(default)]
    pub space: BTreeMap<String, Range>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// The `gbdt` crate's exact-greedy boosted trees.
    Gbdt,
    /// Several configurations combined by weights fitted on out-of-fold predictions.
    Ensemble,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Gbdt => "gbdt",
            Algorithm::Ensemble => "ensemble",
        }
    }
}

/// When a new version becomes production.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployPolicy {
    /// Only when its CV metric beats production's (or nothing is in production).
    Auto,
    /// Always.
    Force,
    /// Never; stays in staging until `deploy(...)`.
    Never,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainOptions {
    #[serde(default = "default_task")]
    pub task: Task,
    /// Defaults: squared_error (regression), log_loss (classification).
    #[serde(default)]
    pub objective: Option<Objective>,
    #[serde(default = "default_algorithm")]
    pub algorithm: Algorithm,
    /// Filled from the top-level parameter keys (`n_estimators`, …).
    #[serde(skip)]
    pub params: Params,
    #[serde(default = "default_folds")]
    pub cv_folds: usize,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Defaults: rmse (regression), log_loss (classification).
    #[serde(default)]
    pub metric: Option<Metric>,
    #[serde(default)]
    pub search: Option<SearchOptions>,
    /// Ensemble members as parameter overrides; missing: three defaults.
    #[serde(default)]
    pub ensemble: Option<Vec<BTreeMap<String, f64>>>,
    /// Columns carried by the query that are not features (keys, names).
    #[serde(default)]
    pub id_columns: Vec<String>,
    #[serde(default = "default_deploy")]
    pub deploy: DeployPolicy,
}

fn default_task() -> Task {
    Task::Regression
}
fn default_algorithm() -> Algorithm {
    Algorithm::Gbdt
}
fn default_folds() -> usize {
    5
}
fn default_seed() -> u64 {
    42
}
fn default_deploy() -> DeployPolicy {
    DeployPolicy::Auto
}

impl TrainOptions {
    pub fn parse(json: &str) -> Result<TrainOptions, MlError> {
        let json = if json.trim().is_empty() { "{}" } else { json };
        let invalid = |e: serde_json::Error| {
            MlError::InvalidOption(format!(
                "invalid train options: {e}. Help: options are a JSON object such as '{{\"task\": \"regression\", \"cv_folds\": 5, \"n_estimators\": 100}}'; see docs/sql-reference.md#train"
            ))
        };
        // Algorithm parameters sit at the top level beside the other options;
        // serde cannot deny unknown keys across a flatten, so split by hand.
        let mut all: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(json).map_err(invalid)?;
        let mut params = serde_json::Map::new();
        for key in Params::KEYS {
            if let Some(v) = all.remove(*key) {
                params.insert((*key).to_string(), v);
            }
        }
        let mut o: TrainOptions =
            serde_json::from_value(serde_json::Value::Object(all)).map_err(invalid)?;
        o.params = serde_json::from_value(serde_json::Value::Object(params)).map_err(invalid)?;
        o.params.validate()?;
        if o.cv_folds == 1 || o.cv_folds > 20 {
            return Err(MlError::InvalidOption(format!(
                "cv_folds must be 0 (no cross-validation) or between 2 and 20, got {}",
                o.cv_folds
            )));
        }
        let objective = o.objective();
        match (o.task, objective) {
            (Task::Regression, Objective::LogLoss) => {
                return Err(MlError::InvalidOption(
                    "objective log_loss needs \"task\": \"classification\"".into(),
                ));
            }
            (Task::Classification, Objective::SquaredError | Objective::AbsoluteError) => {
                return Err(MlError::InvalidOption(
                    "classification trains with objective log_loss".into(),
                ));
            }
            _ => {}
        }
        let metric = o.metric();
        if metric.is_classification() != (o.task == Task::Classification) {
            return Err(MlError::InvalidOption(format!(
                "metric {} does not fit task {}",
                metric.as_str(),
                o.task.as_str()
            )));
        }
        if let Some(s) = &o.search {
            if !(1..=500).contains(&s.trials) {
                return Err(MlError::InvalidOption(format!(
                    "search.trials must be between 1 and 500, got {}",
                    s.trials
                )));
            }
            if o.cv_folds == 0 {
                return Err(MlError::InvalidOption(
                    "search scores trials by cross-validation; set cv_folds to 2 or more".into(),
                ));
            }
        }
        if o.ensemble.is_some() {
            o.algorithm = Algorithm::Ensemble;
        }
        if o.algorithm == Algorithm::Ensemble && o.cv_folds == 0 {
            return Err(MlError::InvalidOption(
                "an ensemble fits its weights on out-of-fold predictions; set cv_folds to 2 or more"
                    .into(),
            ));
        }
        Ok(o)
    }

    pub fn objective(&self) -> Objective {
        self.objective.unwrap_or(match self.task {
            Task::Regression => Objective::SquaredError,
            Task::Classification => Objective::LogLoss,
        })
    }

    pub fn metric(&self) -> Metric {
        self.metric.unwrap_or(match self.task {
            Task::Regression => Metric::Rmse,
            Task::Classification => Metric::LogLoss,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let o = TrainOptions::parse("").unwrap();
        assert_eq!((o.task, o.cv_folds, o.seed), (Task::Regression, 5, 42));
        assert_eq!(o.metric(), Metric::Rmse);
        for (json, needle) in [
            (r#"{"n_estimators": 0}"#, "n_estimators"),
            (r#"{"cv_folds": 1}"#, "cv_folds"),
            (r#"{"colour": 1}"#, "colour"),
            (
                r#"{"task": "classification", "metric": "rmse"}"#,
                "does not fit",
            ),
            (r#"{"search": {"trials": 3}, "cv_folds": 0}"#, "cv_folds"),
            (r#"{"task": "multiclass"}"#, "multiclass"),
        ] {
            let e = TrainOptions::parse(json).unwrap_err().to_string();
            assert!(e.contains(needle), "{json}: {e}");
        }
        let o =
            TrainOptions::parse(r#"{"ensemble": [{"max_depth": 2}, {"max_depth": 5}]}"#).unwrap();
        assert_eq!(o.algorithm, Algorithm::Ensemble);
    }
}
