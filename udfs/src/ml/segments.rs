//! Errors by segment, out of fold: how the model and the constant baseline
//! score within slices of the training rows, for the model card.
//!
//! Every row has a prediction from a fold model that did not see it (the
//! cross-validation's out-of-fold predictions), and a baseline prediction
//! (the constant of the other folds' targets). Slicing both by the values of
//! the most important features shows where the model is weak — large rows,
//! new customers, missing values — without the in-sample flattery of
//! scoring the final model on rows it was fitted to. Slices are the
//! quartiles of a feature (a slice per value when it has at most
//! [`MAX_DISTINCT`] values) and one for missing values.
//!
//! ```
//! use voidx_udfs::ml::metrics::Metric;
//! use voidx_udfs::ml::segments::{Slice, by_feature};
//! let x = vec![0.0, 0.0, 1.0, 1.0];
//! let y = vec![1.0, 2.0, 10.0, 20.0];
//! let model = vec![1.5, 1.5, 15.0, 15.0];
//! let baseline = vec![8.0; 4];
//! let s = by_feature("flag", &x, &y, &model, &baseline, Metric::Mae);
//! assert_eq!(s.len(), 2);
//! assert_eq!(s[1].slice, Slice::Value(1.0));
//! assert_eq!((s[1].rows, s[1].score), (2, Some(5.0)));
//! ```

use serde::{Deserialize, Serialize};

use crate::ml::metrics::Metric;

/// Features sliced: the most important ones by gain.
pub const TOP_FEATURES: usize = 3;
/// A feature with at most this many distinct values gets a slice per value.
pub const MAX_DISTINCT: usize = 5;

/// Which rows of a feature a segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slice {
    /// `lo <= x < hi`; `None` is unbounded.
    Range { lo: Option<f64>, hi: Option<f64> },
    /// `x = value`.
    Value(f64),
    /// `x` is missing (NULL or NaN).
    Missing,
}

/// The out-of-fold scores within one slice of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub feature: String,
    pub slice: Slice,
    pub rows: usize,
    /// The model's metric over the slice's rows (`None` when undefined,
    /// e.g. AUC over one class).
    pub score: Option<f64>,
    /// The constant baseline's metric over the same rows.
    pub baseline: Option<f64>,
}

/// Segments of the [`TOP_FEATURES`] most important features (by `importance`,
/// in feature order). `model` and `baseline` are out-of-fold predictions,
/// one per row, on the metric's scale.
pub fn top_segments(
    names: &[String],
    columns: &[Vec<f64>],
    importance: &[f64],
    y: &[f64],
    model: &[f64],
    baseline: &[f64],
    metric: Metric,
) -> Vec<Segment> {
    let mut order: Vec<usize> = (0..columns.len().min(names.len()))
        .filter(|&f| importance.get(f).is_some_and(|g| *g > 0.0))
        .collect();
    order.sort_by(|a, b| importance[*b].total_cmp(&importance[*a]).then(a.cmp(b)));
    order
        .into_iter()
        .take(TOP_FEATURES)
        .flat_map(|f| by_feature(&names[f], &columns[f], y, model, baseline, metric))
        .collect()
}

/// The segments of one feature `x`: its quartiles (or its values), then
/// missing values; slices without rows are left out.
pub fn by_feature(
    name: &str,
    x: &[f64],
    y: &[f64],
    model: &[f64],
    baseline: &[f64],
    metric: Metric,
) -> Vec<Segment> {
    let mut present: Vec<f64> = x.iter().copied().filter(|v| !v.is_nan()).collect();
    present.sort_by(f64::total_cmp);
    let mut distinct = present.clone();
    distinct.dedup();
    let mut slices: Vec<Slice> = if distinct.len() <= MAX_DISTINCT {
        distinct.iter().map(|v| Slice::Value(*v)).collect()
    } else {
        let n = present.len();
        let mut edges: Vec<f64> = (1..4).map(|q| present[n * q / 4]).collect();
        edges.dedup();
        edges.retain(|e| *e > present[0]);
        let mut bounds: Vec<Option<f64>> = vec![None];
        bounds.extend(edges.iter().map(|e| Some(*e)));
        bounds.push(None);
        bounds
            .windows(2)
            .map(|w| Slice::Range { lo: w[0], hi: w[1] })
            .collect()
    };
    slices.push(Slice::Missing);
    slices
        .into_iter()
        .filter_map(|slice| {
            let rows: Vec<usize> = (0..x.len()).filter(|&r| holds(slice, x[r])).collect();
            if rows.is_empty() {
                return None;
            }
            let pick = |v: &[f64]| rows.iter().map(|&r| v[r]).collect::<Vec<f64>>();
            let ys = pick(y);
            Some(Segment {
                feature: name.to_string(),
                slice,
                rows: rows.len(),
                score: finite(metric.compute(&ys, &pick(model))),
                baseline: finite(metric.compute(&ys, &pick(baseline))),
            })
        })
        .collect()
}

fn holds(slice: Slice, x: f64) -> bool {
    match slice {
        Slice::Missing => x.is_nan(),
        Slice::Value(v) => x == v,
        Slice::Range { lo, hi } => {
            !x.is_nan() && lo.is_none_or(|lo| x >= lo) && hi.is_none_or(|hi| x < hi)
        }
    }
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Every row is in exactly one slice of a feature, and a slice's
        /// score is the metric over exactly its rows.
        #[test]
        fn slices_partition_the_rows(
            x in prop::collection::vec(prop_oneof![Just(f64::NAN), -1e6f64..1e6, (0u8..4).prop_map(f64::from)], 1..200),
        ) {
            let n = x.len();
            let y: Vec<f64> = (0..n).map(|i| i as f64).collect();
            let model: Vec<f64> = (0..n).map(|i| i as f64 + 1.0).collect();
            let segments = by_feature("x", &x, &y, &model, &y, Metric::Mae);
            let total: usize = segments.iter().map(|s| s.rows).sum();
            prop_assert_eq!(total, n);
            for r in 0..n {
                let inside = segments.iter().filter(|s| holds(s.slice, x[r])).count();
                prop_assert_eq!(inside, 1, "row {} ({}) in {} slices", r, x[r], inside);
            }
            for s in &segments {
                prop_assert_eq!(s.score, Some(1.0));
                prop_assert_eq!(s.baseline, Some(0.0));
            }
        }
    }

    #[test]
    fn quartiles_of_a_continuous_feature_and_a_missing_slice() {
        let mut x: Vec<f64> = (0..100).map(f64::from).collect();
        x.push(f64::NAN);
        let y = vec![0.0; x.len()];
        let segments = by_feature("x", &x, &y, &y, &y, Metric::Rmse);
        let slices: Vec<Slice> = segments.iter().map(|s| s.slice).collect();
        assert_eq!(
            slices,
            vec![
                Slice::Range {
                    lo: None,
                    hi: Some(25.0)
                },
                Slice::Range {
                    lo: Some(25.0),
                    hi: Some(50.0)
                },
                Slice::Range {
                    lo: Some(50.0),
                    hi: Some(75.0)
                },
                Slice::Range {
                    lo: Some(75.0),
                    hi: None
                },
                Slice::Missing,
            ]
        );
        assert_eq!(
            segments.iter().map(|s| s.rows).collect::<Vec<_>>(),
            [25, 25, 25, 25, 1]
        );
    }

    #[test]
    fn the_most_important_features_first_and_unused_ones_never() {
        let names: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        let columns = vec![vec![1.0, 2.0]; 5];
        let y = vec![1.0, 2.0];
        let segments = top_segments(
            &names,
            &columns,
            &[0.1, 0.0, 5.0, 2.0, 1.0],
            &y,
            &y,
            &y,
            Metric::Rmse,
        );
        let mut features: Vec<&str> = segments.iter().map(|s| s.feature.as_str()).collect();
        features.dedup();
        assert_eq!(features, ["c", "d", "e"]);
    }
}
