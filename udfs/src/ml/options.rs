//! The JSON options of `train(model, query, target, options)`, parsed once
//! and validated with messages that name the offending key.
//!
//! ```
//! use voidx_udfs::ml::options::TrainOptions;
//! let o = TrainOptions::parse(r#"{"task": "classification", "cv_folds": 3, "max_depth": 3}"#).unwrap();
//! assert_eq!(o.cv_folds, 3);
//! assert_eq!(o.params.max_depth, Some(3));
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
    /// Histogram trainer only (`huber_delta`).
    Huber,
    LogLoss,
}

/// The trainer of one configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trainer {
    /// Histogram gradient boosting (LightGBM's algorithm, multi-threaded).
    Hist,
    /// The `gbdt` crate's exact greedy boosting (one thread per fit).
    Gbdt,
}

pub use crate::ml::hist::Growth;

/// Parameters of one boosted-tree configuration (one search trial or one
/// ensemble member). Names follow LightGBM; the exact-greedy trainer reads
/// `n_estimators`, `learning_rate`, `max_depth` and `min_leaf_size`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub algorithm: Trainer,
    pub n_estimators: usize,
    pub learning_rate: f64,
    /// None: 4 for gbdt; unlimited (leaf-wise) or 6 (depth-wise) for hist.
    pub max_depth: Option<i32>,
    #[serde(alias = "min_data_in_leaf")]
    pub min_leaf_size: usize,
    pub growth: Growth,
    pub num_leaves: usize,
    pub lambda_l1: f64,
    pub lambda_l2: f64,
    pub min_sum_hessian: f64,
    pub max_bin: usize,
    pub bagging_fraction: f64,
    pub feature_fraction: f64,
    pub early_stopping_rounds: Option<usize>,
    pub huber_delta: f64,
}

impl Default for Params {
    fn default() -> Self {
        let h = crate::ml::hist::HistParams::default();
        Params {
            algorithm: Trainer::Hist,
            n_estimators: 100,
            learning_rate: 0.1,
            max_depth: None,
            min_leaf_size: 20,
            growth: h.growth,
            num_leaves: h.num_leaves,
            lambda_l1: h.lambda_l1,
            lambda_l2: h.lambda_l2,
            min_sum_hessian: h.min_sum_hessian,
            max_bin: h.max_bin,
            bagging_fraction: h.bagging_fraction,
            feature_fraction: h.feature_fraction,
            early_stopping_rounds: h.early_stopping_rounds,
            huber_delta: h.huber_delta,
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
        "growth",
        "num_leaves",
        "lambda_l1",
        "lambda_l2",
        "min_sum_hessian",
        "max_bin",
        "bagging_fraction",
        "feature_fraction",
        "early_stopping_rounds",
        "huber_delta",
    ];

    /// The exact-greedy trainer's depth.
    pub fn gbdt_depth(&self) -> u32 {
        self.max_depth.unwrap_or(4).max(1) as u32
    }

    /// The histogram trainer's parameters.
    pub fn hist(&self) -> crate::ml::hist::HistParams {
        crate::ml::hist::HistParams {
            n_estimators: self.n_estimators,
            learning_rate: self.learning_rate,
            growth: self.growth,
            num_leaves: self.num_leaves,
            max_depth: self.max_depth.unwrap_or(match self.growth {
                Growth::Leafwise => -1,
                Growth::Depthwise => 6,
            }),
            min_data_in_leaf: self.min_leaf_size,
            min_sum_hessian: self.min_sum_hessian,
            lambda_l1: self.lambda_l1,
            lambda_l2: self.lambda_l2,
            max_bin: self.max_bin,
            bagging_fraction: self.bagging_fraction,
            feature_fraction: self.feature_fraction,
            early_stopping_rounds: self.early_stopping_rounds,
            huber_delta: self.huber_delta,
            ..crate::ml::hist::HistParams::default()
        }
    }

    pub fn validate(&self) -> Result<(), MlError> {
        let bad = |m: String| Err(MlError::InvalidOption(m));
        if self.algorithm == Trainer::Hist {
            return self.hist().validate();
        }
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
        if let Some(d) = self.max_depth
            && !(1..=16).contains(&d)
        {
            return bad(format!(
                "max_depth must be between 1 and 16 for gbdt, got {d}"
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
            "max_depth" => self.max_depth = Some(value.round().max(1.0) as i32),
            "min_leaf_size" | "min_data_in_leaf" => {
                self.min_leaf_size = value.round().max(1.0) as usize
            }
            "num_leaves" => self.num_leaves = value.round().max(2.0) as usize,
            "lambda_l1" => self.lambda_l1 = value,
            "lambda_l2" => self.lambda_l2 = value,
            "min_sum_hessian" => self.min_sum_hessian = value,
            "bagging_fraction" => self.bagging_fraction = value,
            "feature_fraction" => self.feature_fraction = value,
            other => {
                return Err(MlError::InvalidOption(format!(
                    "unknown parameter \"{other}\"; searchable parameters are n_estimators, learning_rate, max_depth, min_leaf_size, num_leaves, lambda_l1, lambda_l2, min_sum_hessian, bagging_fraction, feature_fraction"
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
    /// Histogram gradient boosting (the default).
    Hist,
    /// The `gbdt` crate's exact-greedy boosted trees.
    Gbdt,
    /// Several configurations combined by weights fitted on out-of-fold predictions.
    Ensemble,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Hist => "hist",
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
    /// Ensemble members as parameter overrides (may set `algorithm` and
    /// `growth`); missing: leaf-wise + depth-wise hist and exact gbdt.
    #[serde(default)]
    pub ensemble: Option<Vec<serde_json::Map<String, serde_json::Value>>>,
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
    Algorithm::Hist
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
        if o.ensemble.is_some() {
            o.algorithm = Algorithm::Ensemble;
        }
        params.insert(
            "algorithm".into(),
            serde_json::Value::String(
                if o.algorithm == Algorithm::Gbdt {
                    "gbdt"
                } else {
                    "hist"
                }
                .into(),
            ),
        );
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
            (
                Task::Classification,
                Objective::SquaredError | Objective::AbsoluteError | Objective::Huber,
            ) => {
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
        if o.algorithm == Algorithm::Gbdt && objective == Objective::Huber {
            return Err(MlError::InvalidOption(
                "objective huber needs \"algorithm\": \"hist\"".into(),
            ));
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
