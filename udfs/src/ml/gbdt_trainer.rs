//! Training with the `gbdt` crate (exact greedy boosting), read back into a
//! [`Forest`].
//!
//! The crate's trees are private, so the trained model is read through its
//! serde form; it stores no covers, so they come from routing the training
//! rows.
//!
//! Missing values: the crate's own handling (the sentinel `f32::MIN`) drops
//! such rows from both children and leaves stale predictions for them, which
//! makes boosting diverge. Instead a missing value is trained as
//! [`MISSING`], below every real value, so each split learns where missing
//! values belong (always the left, "smaller" side) and the forest sends NaN
//! left — the same path at training and at prediction.

use gbdt::config::Config;
use gbdt::decision_tree::Data;
use gbdt::gradient_boost::GBDT;
use serde_json::Value;

use crate::ml::MlError;
use crate::ml::dataset::Dataset;
use crate::ml::forest::{Forest, ForestBuilder, Link, SplitRule, TreeNode};
use crate::ml::options::{Objective, Params};

/// How a missing value is presented to the trainer: below any real value.
pub const MISSING: f32 = -1.0e30;

/// Trains one boosted forest on `data`. Deterministic: the crate's random
/// subsampling is left off (its RNG cannot be seeded).
pub fn fit(data: &Dataset, params: &Params, objective: Objective) -> Result<Forest, MlError> {
    params.validate()?;
    if objective == Objective::Huber {
        return Err(MlError::InvalidOption(
            "the gbdt trainer has no huber objective; use \"algorithm\": \"hist\"".into(),
        ));
    }
    let mut rows: Vec<Data> = (0..data.n_rows())
        .map(|r| {
            let features = data
                .columns
                .iter()
                .map(|c| {
                    if c[r].is_nan() {
                        MISSING
                    } else {
                        (c[r] as f32).max(MISSING / 2.0)
                    }
                })
                .collect();
            let label = match objective {
                // The crate's log-likelihood loss wants labels ±1.
                Objective::LogLoss => 2.0 * data.target[r] as f32 - 1.0,
                _ => data.target[r] as f32,
            };
            Data::new_training_data(features, 1.0, label, None)
        })
        .collect();
    let mut config = Config::new();
    config.set_feature_size(data.n_features());
    config.set_max_depth(params.gbdt_depth());
    config.set_iterations(params.n_estimators);
    config.set_shrinkage(params.learning_rate as f32);
    config.set_min_leaf_size(params.min_leaf_size);
    config.set_loss(match objective {
        Objective::SquaredError => "SquaredError",
        Objective::AbsoluteError => "LAD",
        Objective::LogLoss => "LogLikelyhood",
        Objective::Huber => "SquaredError",
    });
    config.set_training_optimization_level(2);
    let mut model = GBDT::new(&config);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.fit(&mut rows)))
        .map_err(|_| MlError::InvalidInput("the gbdt trainer failed on this data".into()))?;
    let json = serde_json::to_value(&model)
        .map_err(|e| MlError::InvalidModel(format!("cannot read the gbdt model: {e}")))?;
    // The crate's log-likelihood model predicts 1 / (1 + e^(-2x)); doubling
    // every value gives the usual log-odds raw score.
    let scale = if objective == Objective::LogLoss {
        2.0
    } else {
        1.0
    };
    let mut forest = from_gbdt_json(
        &json,
        data.feature_names.clone(),
        params.learning_rate,
        scale,
    )?;
    let columns = data.column_refs();
    forest.set_covers_from_rows(&columns, data.n_rows());
    Ok(forest)
}

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, MlError> {
    v.get(key)
        .ok_or_else(|| MlError::InvalidModel(format!("gbdt model has no \"{key}\"")))
}

fn num(v: &Value, key: &str) -> Result<f64, MlError> {
    field(v, key)?
        .as_f64()
        .ok_or_else(|| MlError::InvalidModel(format!("gbdt model: \"{key}\" is not a number")))
}

fn from_gbdt_json(
    json: &Value,
    feature_names: Vec<String>,
    shrinkage: f64,
    scale: f64,
) -> Result<Forest, MlError> {
    let link = if scale == 2.0 {
        Link::Logistic
    } else {
        Link::Identity
    };
    let bias = num(json, "bias")? * scale;
    let mut builder = ForestBuilder::new(feature_names, link, SplitRule::LessF32, bias);
    let trees = field(json, "trees")?
        .as_array()
        .ok_or_else(|| MlError::InvalidModel("gbdt model: trees is not a list".into()))?;
    for tree in trees {
        let nodes = field(field(tree, "tree")?, "tree")?
            .as_array()
            .ok_or_else(|| MlError::InvalidModel("gbdt tree has no node list".into()))?;
        // Node `index` fields are positions in the list; children 0 = none.
        let mut out = Vec::with_capacity(nodes.len());
        for node in nodes {
            let v = field(node, "value")?;
            let is_leaf = field(v, "is_leaf")?.as_bool().unwrap_or(true);
            let left = num(node, "left")? as usize;
            let right = num(node, "right")? as usize;
            if is_leaf || left == 0 || right == 0 {
                let pred = num(v, "pred").map_err(|_| {
                    MlError::InvalidModel(format!("leaf {node} of tree {}", out.len()))
                })?;
                out.push(TreeNode::leaf(pred * shrinkage * scale, 0.0));
            } else {
                out.push(TreeNode::split(
                    num(v, "feature_index")? as u32,
                    num(v, "feature_value")?,
                    left,
                    right,
                    true,
                    0.0,
                ));
            }
        }
        builder.add_tree(&out)?;
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gbdt::decision_tree::DataVec;

    fn toy(n: usize, classify: bool) -> Dataset {
        let x0: Vec<f64> = (0..n).map(|i| (i % 17) as f64).collect();
        let x1: Vec<f64> = (0..n).map(|i| ((i * 7) % 11) as f64).collect();
        let target = x0
            .iter()
            .zip(&x1)
            .map(|(a, b)| {
                let v = 2.0 * a - b;
                if classify { f64::from(v > 8.0) } else { v }
            })
            .collect();
        Dataset {
            feature_names: vec!["x0".into(), "x1".into()],
            columns: vec![x0, x1],
            target,
        }
    }

    /// Our forest reproduces the crate's own predictions on complete rows.
    #[test]
    fn forest_matches_the_crate() {
        for (classify, objective) in [
            (false, Objective::SquaredError),
            (false, Objective::AbsoluteError),
            (true, Objective::LogLoss),
        ] {
            let data = toy(300, classify);
            let params = Params {
                algorithm: crate::ml::options::Trainer::Gbdt,
                n_estimators: 20,
                max_depth: Some(3),
                min_leaf_size: 2,
                learning_rate: 0.3,
                ..Params::default()
            };
            let forest = fit(&data, &params, objective).unwrap();
            // retrain the crate directly to compare
            let mut rows: DataVec = (0..data.n_rows())
                .map(|r| {
                    let label = if classify {
                        2.0 * data.target[r] as f32 - 1.0
                    } else {
                        data.target[r] as f32
                    };
                    Data::new_training_data(
                        vec![data.columns[0][r] as f32, data.columns[1][r] as f32],
                        1.0,
                        label,
                        None,
                    )
                })
                .collect();
            let mut config = Config::new();
            config.set_feature_size(2);
            config.set_max_depth(3);
            config.set_iterations(20);
            config.set_shrinkage(0.3);
            config.set_min_leaf_size(2);
            config.set_loss(match objective {
                Objective::SquaredError => "SquaredError",
                Objective::AbsoluteError => "LAD",
                Objective::LogLoss => "LogLikelyhood",
                Objective::Huber => unreachable!(),
            });
            config.set_training_optimization_level(2);
            let mut model = GBDT::new(&config);
            model.fit(&mut rows);
            let theirs = model.predict(&rows);
            let mut ours = vec![0.0; data.n_rows()];
            forest.predict(&data.column_refs(), &mut ours);
            for (a, b) in ours.iter().zip(&theirs) {
                assert!(
                    (a - *b as f64).abs() < 1e-4 * (1.0 + a.abs()),
                    "{objective:?}: {a} vs {b}"
                );
            }
            // covers add up: every root saw every row
            for &root in forest.roots() {
                assert_eq!(forest.cover(root), data.n_rows() as f64);
            }
        }
    }

    /// Many missing values used to make the crate's boosting diverge.
    #[test]
    fn missing_values_are_learned_not_fatal() {
        let mut data = toy(2000, false);
        for r in (0..2000).step_by(3) {
            data.columns[0][r] = f64::NAN;
        }
        // missing x0 carries signal: those rows have a higher target
        for r in (0..2000).step_by(3) {
            data.target[r] += 50.0;
        }
        let params = Params {
            n_estimators: 100,
            ..Params::default()
        };
        let forest = fit(&data, &params, Objective::SquaredError).unwrap();
        let mut pred = vec![0.0; 2000];
        forest.predict(&data.column_refs(), &mut pred);
        let rmse = crate::ml::metrics::Metric::Rmse.compute(&data.target, &pred);
        let (_, sd) = crate::ml::cv::mean_std(data.target.iter().copied());
        assert!(
            rmse.is_finite() && rmse < 0.3 * sd,
            "rmse {rmse} vs sd {sd}"
        );
    }
}
