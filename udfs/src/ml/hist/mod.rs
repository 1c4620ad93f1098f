//! Histogram gradient boosting, LightGBM's algorithm in pure Rust, producing
//! the project's [`Forest`] (so prediction, TreeSHAP and the registry work on
//! its models unchanged).
//!
//! Features are cut into at most `max_bin` quantile bins ([`binning`]);
//! each tree grows leaf-wise or depth-wise ([`grow`]) on per-node gradient
//! histograms ([`histogram`]), building only the smaller child of a split
//! and deriving its sibling by subtraction; [`split`] scores thresholds and
//! learns where missing values go; [`loss`] has the objectives. Histogram building, partitioning,
//! split search and gradients run on rayon's pool; results are identical
//! for a fixed seed whatever the number of threads, because each sum is
//! taken in one fixed order.
//!
//! Memory beyond the input [`Dataset`]: one byte per value for the binned
//! matrix; 44 bytes per row (target, score, gradient, ordered gradient,
//! row index and two partition buffers; 16 more for log loss's hessians);
//! and a histogram of `n_features × 4 KiB` (6 KiB for log loss) per leaf
//! that may still split (at most `num_leaves`; LightGBM's pool is the same
//! size). For 100k rows × 50 features: 5 + 4.4 + 6.2 MB; the measured peak
//! (`hist_speed_100k`) is ~20 MB, the size of the raw matrix in f32. Wide,
//! short tables are dominated by the histograms instead.
//!
//! ```
//! use voidx_udfs::ml::dataset::Dataset;
//! use voidx_udfs::ml::hist::{fit, HistLoss, HistParams};
//! let x: Vec<f64> = (0..200).map(|i| (i % 10) as f64).collect();
//! let data = Dataset {
//!     feature_names: vec!["x".into()],
//!     target: x.iter().map(|v| if *v < 5.0 { 1.0 } else { 3.0 }).collect(),
//!     columns: vec![x],
//! };
//! let params = HistParams { n_estimators: 50, ..HistParams::default() };
//! let forest = fit(&data, &params, HistLoss::L2, 42).unwrap();
//! assert!((forest.predict_row_raw(&[2.0]) - 1.0).abs() < 0.05);
//! ```

pub mod binning;
pub mod grow;
pub mod histogram;
pub mod loss;
pub mod partition;
pub mod split;
pub mod tree;

pub use loss::HistLoss;

use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::ml::MlError;
use crate::ml::dataset::Dataset;
use crate::ml::forest::{Forest, ForestBuilder, SplitRule, TreeNode};
use binning::{BinnedMatrix, build_mappers};
use grow::Grower;
use split::TreeParams;

/// How trees grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Growth {
    /// Best-first: always split the leaf with the largest gain, up to
    /// `num_leaves` leaves (LightGBM).
    Leafwise,
    /// Level by level: split every leaf with a positive gain until
    /// `max_depth`; `num_leaves` does not apply (XGBoost's `depthwise`).
    Depthwise,
}

/// Parameters, named and defaulted as LightGBM's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistParams {
    pub n_estimators: usize,
    pub learning_rate: f64,
    pub growth: Growth,
    pub num_leaves: usize,
    /// -1: unlimited for leaf-wise growth, 6 for depth-wise.
    pub max_depth: i32,
    pub min_data_in_leaf: usize,
    pub min_sum_hessian: f64,
    pub lambda_l1: f64,
    pub lambda_l2: f64,
    /// Value bins per feature (missing values get one more).
    pub max_bin: usize,
    /// Share of rows each tree is grown on, drawn anew per tree.
    pub bagging_fraction: f64,
    /// Share of features each tree may split on, drawn anew per tree.
    pub feature_fraction: f64,
    /// Stop when the validation loss has not improved for this many trees,
    /// and keep the trees up to the best one.
    pub early_stopping_rounds: Option<usize>,
    /// Share of rows held out (at random, seeded) for early stopping.
    pub validation_fraction: f64,
    /// Where the Huber loss turns from squared to absolute.
    pub huber_delta: f64,
}

impl Default for HistParams {
    fn default() -> Self {
        HistParams {
            n_estimators: 100,
            learning_rate: 0.1,
            growth: Growth::Leafwise,
            num_leaves: 31,
            max_depth: -1,
            min_data_in_leaf: 20,
            min_sum_hessian: 1e-3,
            lambda_l1: 0.0,
            lambda_l2: 0.0,
            max_bin: 255,
            bagging_fraction: 1.0,
            feature_fraction: 1.0,
            early_stopping_rounds: None,
            validation_fraction: 0.1,
            huber_delta: 1.0,
        }
    }
}

/// Depth-wise trees deeper than this would hold up to 2^20 leaves.
const MAX_DEPTHWISE_DEPTH: i32 = 20;

impl HistParams {
    pub fn validate(&self) -> Result<(), MlError> {
        let bad = |m: String| Err(MlError::InvalidOption(m));
        let unit = |x: f64| x > 0.0 && x <= 1.0;
        let non_negative = |x: f64| x.is_finite() && x >= 0.0;
        if !(1..=100_000).contains(&self.n_estimators) {
            return bad(format!(
                "n_estimators must be between 1 and 100000, got {}",
                self.n_estimators
            ));
        }
        if !unit(self.learning_rate) {
            return bad(format!(
                "learning_rate must be in (0, 1], got {}",
                self.learning_rate
            ));
        }
        if !(2..=131_072).contains(&self.num_leaves) {
            return bad(format!(
                "num_leaves must be between 2 and 131072, got {}",
                self.num_leaves
            ));
        }
        if self.max_depth == 0 || self.max_depth < -1 {
            return bad(format!(
                "max_depth must be -1 (no limit) or at least 1, got {}",
                self.max_depth
            ));
        }
        if self.growth == Growth::Depthwise && self.max_depth > MAX_DEPTHWISE_DEPTH {
            return bad(format!(
                "depth-wise growth allows max_depth up to {MAX_DEPTHWISE_DEPTH}, got {}. Help: use \"growth\": \"leafwise\" with num_leaves for deeper trees",
                self.max_depth
            ));
        }
        if self.min_data_in_leaf == 0 {
            return bad("min_data_in_leaf must be at least 1".into());
        }
        for (name, v) in [
            ("min_sum_hessian", self.min_sum_hessian),
            ("lambda_l1", self.lambda_l1),
            ("lambda_l2", self.lambda_l2),
        ] {
            if !non_negative(v) {
                return bad(format!("{name} must be a finite number >= 0, got {v}"));
            }
        }
        if !(2..=255).contains(&self.max_bin) {
            return bad(format!(
                "max_bin must be between 2 and 255, got {}",
                self.max_bin
            ));
        }
        for (name, v) in [
            ("bagging_fraction", self.bagging_fraction),
            ("feature_fraction", self.feature_fraction),
        ] {
            if !unit(v) {
                return bad(format!("{name} must be in (0, 1], got {v}"));
            }
        }
        if self.early_stopping_rounds == Some(0) {
            return bad("early_stopping_rounds must be at least 1 (or left out)".into());
        }
        if !(self.validation_fraction > 0.0 && self.validation_fraction <= 0.5) {
            return bad(format!(
                "validation_fraction must be in (0, 0.5], got {}",
                self.validation_fraction
            ));
        }
        if !(self.huber_delta.is_finite() && self.huber_delta > 0.0) {
            return bad(format!("huber_delta must be > 0, got {}", self.huber_delta));
        }
        Ok(())
    }

    fn tree_params(&self) -> TreeParams {
        let leafwise = self.growth == Growth::Leafwise;
        TreeParams {
            leafwise,
            num_leaves: self.num_leaves,
            max_depth: match (self.max_depth, leafwise) {
                (-1, true) => None,
                (-1, false) => Some(6),
                (d, _) => Some(d as usize),
            },
            min_data_in_leaf: self.min_data_in_leaf,
            min_sum_hessian: self.min_sum_hessian,
            lambda_l1: self.lambda_l1,
            lambda_l2: self.lambda_l2,
        }
    }
}

fn check_data(data: &Dataset, loss: HistLoss) -> Result<(), MlError> {
    let n = data.n_rows();
    if n == 0 {
        return Err(MlError::InvalidInput("there are no training rows".into()));
    }
    if data.n_features() == 0 {
        return Err(MlError::InvalidInput("there are no feature columns".into()));
    }
    if n >= u32::MAX as usize {
        return Err(MlError::InvalidInput(format!(
            "{n} rows are more than the histogram trainer handles (2^32 - 1). Help: sample the training query"
        )));
    }
    if let Some((name, c)) = data
        .feature_names
        .iter()
        .zip(&data.columns)
        .find(|(_, c)| c.len() != n)
    {
        return Err(MlError::InvalidInput(format!(
            "feature \"{name}\" has {} values for {n} rows",
            c.len()
        )));
    }
    if data.feature_names.len() != data.n_features() {
        return Err(MlError::InvalidInput(
            "feature names and columns differ in number".into(),
        ));
    }
    loss.check_target(&data.target)
}

/// Trains a boosted forest on `data`. Deterministic for a fixed `seed`
/// (bagging, feature sampling and the early-stopping split draw from it).
pub fn fit(
    data: &Dataset,
    params: &HistParams,
    loss: HistLoss,
    seed: u64,
) -> Result<Forest, MlError> {
    params.validate()?;
    check_data(data, loss)?;
    let n = data.n_rows();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (train_rows, valid_rows) = split_rows(n, params, &mut rng)?;
    let columns = data.column_refs();
    let mappers = build_mappers(&columns, &train_rows, params.max_bin, rng.random())?;
    // Without a validation split the training rows are all rows, in order.
    let subset = (train_rows.len() < n).then_some(train_rows.as_slice());
    let train = BinnedMatrix::new(&columns, subset, &mappers);
    let valid = BinnedMatrix::new(&columns, Some(&valid_rows), &mappers);
    let gather =
        |rows: &[u32]| -> Vec<f64> { rows.iter().map(|&r| data.target[r as usize]).collect() };
    let (y, y_valid) = (gather(&train_rows), gather(&valid_rows));
    drop(train_rows);

    let base = loss.base_score(&y);
    let nt = y.len();
    let mut scores = vec![base; nt];
    let mut valid_scores = vec![base; y_valid.len()];
    let mut g = vec![0.0; nt];
    let mut h = if loss.constant_hessian() {
        Vec::new()
    } else {
        vec![0.0; nt]
    };
    let tree_params = params.tree_params();
    let mut grower = Grower::new(&train, &mappers, tree_params);
    let all_features: Vec<usize> = (0..data.n_features()).collect();
    let n_bag = ((nt as f64 * params.bagging_fraction).round() as usize).clamp(1, nt);
    let n_feat = ((all_features.len() as f64 * params.feature_fraction).round() as usize)
        .clamp(1, all_features.len());
    let random = n_bag < nt || n_feat < all_features.len();
    let mut trees: Vec<Vec<TreeNode>> = Vec::new();
    let mut best = (f64::INFINITY, 0usize);
    let mut residuals = Vec::new();

    for it in 0..params.n_estimators {
        loss.gradients(&y, &scores, params.huber_delta, &mut g, &mut h);
        let bag = (n_bag < nt).then(|| sorted_sample(&mut rng, nt, n_bag));
        let features = if n_feat < all_features.len() {
            sorted_sample(&mut rng, all_features.len(), n_feat)
                .into_iter()
                .map(|f| f as usize)
                .collect()
        } else {
            all_features.clone()
        };
        let hess = (!loss.constant_hessian()).then_some(h.as_slice());
        let tree = grower.grow(bag.as_deref(), &g, hess, &features);
        let values: Vec<f64> = tree
            .leaves
            .iter()
            .map(|leaf| {
                let raw = if loss.refits_leaves() {
                    residuals.clear();
                    residuals.extend(
                        grower
                            .leaf_rows(leaf)
                            .iter()
                            .map(|&r| y[r as usize] - scores[r as usize]),
                    );
                    loss::median(&mut residuals)
                } else {
                    tree_params.leaf_output(leaf.sums)
                };
                raw * params.learning_rate
            })
            .collect();
        // In-bag rows: straight from the leaves' row segments.
        for (leaf, v) in tree.leaves.iter().zip(&values) {
            for &r in grower.leaf_rows(leaf) {
                scores[r as usize] += v;
            }
        }
        if let Some(bag) = &bag {
            for_out_of_bag(nt, bag, |r| scores[r] += values[tree.leaf_of(&train, r)]);
        }
        trees.push(tree.to_tree_nodes(&values, &mappers));
        if let Some(rounds) = params.early_stopping_rounds {
            for (r, s) in valid_scores.iter_mut().enumerate() {
                *s += values[tree.leaf_of(&valid, r)];
            }
            let metric = loss.mean_loss(&y_valid, &valid_scores, params.huber_delta);
            if metric < best.0 {
                best = (metric, it + 1);
            } else if it + 1 - best.1 >= rounds {
                break;
            }
        }
        // A tree that could not split will not split next time either.
        if tree.leaves.len() == 1 && !random {
            break;
        }
    }
    let keep = match params.early_stopping_rounds {
        Some(_) => best.1.max(1),
        None => trees.len(),
    };
    let mut builder = ForestBuilder::new(
        data.feature_names.clone(),
        loss.link(),
        SplitRule::LessEqual,
        base,
    );
    for t in &trees[..keep] {
        builder.add_tree(t)?;
    }
    Ok(builder.build())
}

/// Training and validation rows (sorted); no validation rows unless early
/// stopping is on.
fn split_rows(
    n: usize,
    params: &HistParams,
    rng: &mut ChaCha8Rng,
) -> Result<(Vec<u32>, Vec<u32>), MlError> {
    if params.early_stopping_rounds.is_none() {
        return Ok(((0..n as u32).collect(), Vec::new()));
    }
    let n_valid = (n as f64 * params.validation_fraction).round() as usize;
    if n_valid == 0 || n_valid >= n {
        return Err(MlError::InvalidInput(format!(
            "early stopping holds out {} of {n} rows, which leaves no validation or no training rows. Help: use more rows or leave out early_stopping_rounds",
            params.validation_fraction
        )));
    }
    let valid = sorted_sample(rng, n, n_valid);
    let mut is_valid = vec![false; n];
    for &r in &valid {
        is_valid[r as usize] = true;
    }
    let train = (0..n as u32).filter(|&r| !is_valid[r as usize]).collect();
    Ok((train, valid))
}

/// `k` distinct indices below `n`, ascending (ascending keeps bin reads
/// sequential).
fn sorted_sample(rng: &mut ChaCha8Rng, n: usize, k: usize) -> Vec<u32> {
    let mut s: Vec<u32> = sample(rng, n, k).into_iter().map(|i| i as u32).collect();
    s.sort_unstable();
    s
}

/// Calls `f` for every row below `n` that is not in the sorted `bag`.
fn for_out_of_bag(n: usize, bag: &[u32], mut f: impl FnMut(usize)) {
    let mut next = bag.iter().peekable();
    for r in 0..n {
        if next.peek().is_some_and(|&&b| b as usize == r) {
            next.next();
        } else {
            f(r);
        }
    }
}

#[cfg(test)]
mod tests;
