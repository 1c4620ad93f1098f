//! Per-feature reference distributions of the training data, stored with
//! each model version for drift monitoring: decile bin edges with the share
//! of rows in each bin, the NULL share, moments and 101 quantiles (enough
//! for an approximate Kolmogorov–Smirnov test).

use serde::{Deserialize, Serialize};

use crate::ml::dataset::Dataset;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureReference {
    pub feature: String,
    pub rows: usize,
    pub null_fraction: f64,
    pub mean: f64,
    pub std: f64,
    /// Bin `i` holds values in `[edges[i-1], edges[i])`; the first and last
    /// bins are open-ended.
    pub edges: Vec<f64>,
    /// Share of non-NULL rows per bin (`edges.len() + 1` entries).
    pub fractions: Vec<f64>,
    /// Quantiles at 0 %, 1 %, …, 100 % of the non-NULL values.
    pub quantiles: Vec<f64>,
}

impl FeatureReference {
    /// Index of the bin `x` falls into.
    pub fn bin(&self, x: f64) -> usize {
        self.edges.partition_point(|e| *e <= x)
    }
}

/// One reference per feature, the columns split across the cores (each
/// needs a sort of its values).
pub fn references(data: &Dataset) -> Vec<FeatureReference> {
    let m = data.n_features();
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .clamp(1, m.max(1));
    let chunk = m.div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t * chunk..((t + 1) * chunk).min(m))
                        .map(|f| reference(&data.feature_names[f], &data.columns[f]))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

fn reference(name: &str, column: &[f64]) -> FeatureReference {
    let mut values: Vec<f64> = column.iter().copied().filter(|v| !v.is_nan()).collect();
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let quantile = |q: f64| values[((n - 1) as f64 * q).round() as usize];
    let (mean, std) = if n == 0 {
        (f64::NAN, f64::NAN)
    } else {
        crate::ml::cv::mean_std(values.iter().copied())
    };
    let mut edges: Vec<f64> = if n == 0 {
        Vec::new()
    } else {
        (1..10).map(|i| quantile(i as f64 / 10.0)).collect()
    };
    edges.dedup();
    // A bin edge equal to the minimum would leave the first bin empty.
    if n > 0 && edges.first() == Some(&values[0]) {
        edges.remove(0);
    }
    let mut reference = FeatureReference {
        feature: name.to_string(),
        rows: column.len(),
        null_fraction: (column.len() - n) as f64 / column.len().max(1) as f64,
        mean,
        std,
        fractions: vec![0.0; edges.len() + 1],
        quantiles: if n == 0 {
            Vec::new()
        } else {
            (0..=100).map(|i| quantile(i as f64 / 100.0)).collect()
        },
        edges,
    };
    let mut counts = vec![0usize; reference.fractions.len()];
    for v in &values {
        counts[reference.bin(*v)] += 1;
    }
    for (f, c) in reference.fractions.iter_mut().zip(counts) {
        *f = c as f64 / n.max(1) as f64;
    }
    reference
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deciles_split_the_rows_evenly() {
        let col: Vec<f64> = (0..1000).map(f64::from).chain([f64::NAN; 10]).collect();
        let data = Dataset {
            feature_names: vec!["x".into()],
            columns: vec![col],
            target: vec![0.0; 1010],
        };
        let r = &references(&data)[0];
        assert_eq!(r.edges.len(), 9);
        assert!(
            r.fractions.iter().all(|f| (f - 0.1).abs() < 0.002),
            "{:?}",
            r.fractions
        );
        assert!((r.null_fraction - 10.0 / 1010.0).abs() < 1e-12);
        assert_eq!(r.quantiles.len(), 101);
        // a constant column has one bin holding everything
        let data = Dataset {
            feature_names: vec!["c".into()],
            columns: vec![vec![3.0; 50]],
            target: vec![0.0; 50],
        };
        let r = &references(&data)[0];
        assert_eq!(r.fractions, vec![1.0]);
    }
}
