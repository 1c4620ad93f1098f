//! Imports tree ensembles trained by XGBoost and LightGBM into a [`Forest`],
//! so that their predictions and TreeSHAP values come out as the libraries
//! compute them.
//!
//! Supported:
//! - XGBoost JSON models (`booster.save_model("m.json")`; the 1.x–3.x
//!   layout, golden-tested with 3.2) with the `gbtree` booster and
//!   objectives `reg:squarederror` (`reg:linear`), `reg:squaredlogerror`,
//!   `reg:absoluteerror`, `reg:pseudohubererror`, `reg:quantileerror` (one
//!   quantile), `reg:logistic`, `binary:logistic` and `binary:logitraw`.
//!   Splits are `x < threshold` in float32; NaN follows the learned default
//!   direction. `binary:logitraw` keeps XGBoost's raw-margin output
//!   (identity link), as its `predict` does.
//! - LightGBM text models (`booster.save_model("m.txt")`, golden-tested with
//!   4.7) with objectives `regression` (L2), `regression_l1`, `huber`,
//!   `fair`, `quantile`, `mape`, `binary` and `cross_entropy`, including
//!   `boosting=rf` models (`average_output`: leaves are divided by the
//!   number of trees). Splits are `x <= threshold` in float64. Missing values
//!   follow LightGBM exactly: with missing type *None* NaN is read as 0.0,
//!   with *NaN* it takes the default direction, and with *Zero*
//!   (`zero_as_missing`) a split is accepted only when LightGBM's zero band
//!   already falls on the default side of the threshold. For
//!   `binary sigmoid:S` the leaves are multiplied by `S` so that the logistic
//!   link gives LightGBM's probabilities; raw scores and SHAP values are then
//!   `S` times LightGBM's (nothing changes for the default `S = 1`).
//!
//! Every tree in the file is used, as the libraries' `Booster.predict` does.
//!
//! Covers are what each library's own TreeSHAP weighs children by: XGBoost's
//! `sum_hessian`, LightGBM's `leaf_count`/`internal_count` (row counts, not
//! hessians), so `pred_contribs`/`pred_contrib` are reproduced.
//!
//! Unsupported, with [`MlError::Unsupported`]: multiclass and multi-target
//! models, `gblinear` and `dart` boosters, categorical splits, LightGBM
//! linear trees, objectives whose link is not identity or logistic
//! (Poisson, gamma, Tweedie, ranking, survival, custom) and XGBoost's binary
//! UBJSON format.
//!
//! Feature names are those stored in the file; an XGBoost model trained
//! without names gets `f0..fN-1`, as XGBoost itself names them.

mod lightgbm;
mod xgboost;

use std::str::FromStr;

use crate::ml::MlError;
use crate::ml::forest::Forest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFormat {
    XGBoost,
    LightGBM,
}

impl FromStr for ModelFormat {
    type Err = MlError;

    fn from_str(s: &str) -> Result<Self, MlError> {
        match s.to_ascii_lowercase().as_str() {
            "xgboost" | "xgb" => Ok(ModelFormat::XGBoost),
            "lightgbm" | "lgb" | "lgbm" => Ok(ModelFormat::LightGBM),
            _ => Err(MlError::InvalidOption(format!(
                "unknown model format '{s}': use 'xgboost' or 'lightgbm'"
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportedTask {
    Regression,
    Binary,
}

#[derive(Debug, Clone)]
pub struct Imported {
    pub forest: Forest,
    pub task: ImportedTask,
    /// The objective as the library names it (`binary:logistic`, `regression`).
    pub objective: String,
}

pub fn import_model(format: ModelFormat, bytes: &[u8]) -> Result<Imported, MlError> {
    match format {
        ModelFormat::XGBoost => xgboost::import(bytes),
        ModelFormat::LightGBM => lightgbm::import(bytes),
    }
}

/// `f0..fN-1`, XGBoost's own names for unnamed features.
fn default_feature_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("f{i}")).collect()
}

/// Golden files written by `tests/fixtures/models/make_fixtures.py`.
#[cfg(test)]
pub(crate) mod golden {
    use serde::Deserialize;

    use crate::ml::forest::Forest;
    use crate::ml::shap::{ShapScratch, explain_row};

    #[derive(Deserialize)]
    pub struct Golden {
        pub objective: String,
        rows: Vec<Vec<Option<f64>>>,
        predict: Vec<f64>,
        raw: Vec<f64>,
        contribs: Vec<Vec<f64>>,
    }

    pub fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/models/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    }

    pub fn load(name: &str) -> Golden {
        serde_json::from_slice(&fixture(name)).unwrap_or_else(|e| panic!("parsing {name}: {e}"))
    }

    /// Both libraries predict in float32 (XGBoost) or sum float64 leaves
    /// (LightGBM); 1e-5 relative, absolute near zero, covers both.
    fn close(got: f64, want: f64, tol: f64) -> bool {
        (got - want).abs() <= tol * want.abs().max(1.0)
    }

    impl Golden {
        fn rows(&self) -> Vec<Vec<f64>> {
            let nan = |v: &Option<f64>| v.unwrap_or(f64::NAN);
            self.rows
                .iter()
                .map(|r| r.iter().map(nan).collect())
                .collect()
        }

        /// Checks predictions and raw scores; the forest's raw score is
        /// `raw_scale` times the library's (LightGBM's sigmoid parameter).
        /// Returns the largest relative error seen.
        pub fn check_predictions(&self, forest: &Forest, raw_scale: f64) -> f64 {
            let rows = self.rows();
            let n = forest.n_features();
            let columns: Vec<Vec<f64>> = (0..n)
                .map(|f| rows.iter().map(|r| r[f]).collect())
                .collect();
            let columns: Vec<&[f64]> = columns.iter().map(|c| c.as_slice()).collect();
            let mut pred = vec![0.0; rows.len()];
            let mut raw = vec![0.0; rows.len()];
            forest.predict(&columns, &mut pred);
            forest.predict_raw(&columns, &mut raw);
            let mut worst: f64 = 0.0;
            for i in 0..rows.len() {
                let want_raw = raw_scale * self.raw[i];
                assert!(
                    close(pred[i], self.predict[i], 1e-5),
                    "row {i}: predict {} vs {}",
                    pred[i],
                    self.predict[i]
                );
                assert!(
                    close(raw[i], want_raw, 1e-5),
                    "row {i}: raw {} vs {want_raw}",
                    raw[i]
                );
                assert!(close(forest.predict_row_raw(&rows[i]), raw[i], 1e-12));
                let rel = |a: f64, b: f64| (a - b).abs() / b.abs().max(1.0);
                worst = worst
                    .max(rel(pred[i], self.predict[i]))
                    .max(rel(raw[i], want_raw));
            }
            worst
        }

        /// Checks TreeSHAP values and the bias column against the library's.
        pub fn check_contribs(&self, forest: &Forest, raw_scale: f64) -> f64 {
            let n = forest.n_features();
            let mut scratch = ShapScratch::new(forest);
            let mut phi = vec![0.0; n];
            let mut worst: f64 = 0.0;
            for (i, row) in self.rows().iter().enumerate() {
                explain_row(forest, row, &mut phi, &mut scratch);
                let want = &self.contribs[i];
                assert_eq!(want.len(), n + 1);
                for f in 0..n {
                    let w = raw_scale * want[f];
                    assert!(
                        close(phi[f], w, 1e-4),
                        "row {i} feature {f}: {} vs {w}",
                        phi[f]
                    );
                    worst = worst.max((phi[f] - w).abs() / w.abs().max(1.0));
                }
                let bias = raw_scale * want[n];
                assert!(
                    close(forest.expected_raw(), bias, 1e-4),
                    "bias {} vs {bias}",
                    forest.expected_raw()
                );
                worst = worst.max((forest.expected_raw() - bias).abs() / bias.abs().max(1.0));
            }
            worst
        }
    }
}
