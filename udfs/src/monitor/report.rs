//! One feature's drift against its training reference, as `drift_report`
//! returns it: PSI on the reference bins, the KS statistic and p-value
//! against the reference quantiles, moments and NULL rates.

use arrow::array::Float64Array;

use crate::ml::cv::mean_std;
use crate::ml::reference::FeatureReference;
use crate::monitor::ks::{ks_against_quantiles, ks_p_value};
use crate::monitor::psi::{Bins, expected_shares, psi};

#[derive(Debug, Clone, PartialEq)]
pub struct FeatureDrift {
    pub rows: usize,
    pub psi: f64,
    pub ks_statistic: f64,
    pub ks_p_value: f64,
    pub current_mean: f64,
    pub current_std: f64,
    /// `(current_mean − reference_mean) / reference_std`; NaN when the
    /// reference is constant.
    pub mean_shift_std: f64,
    pub current_null_rate: f64,
}

/// PSI thresholds: at or above `warn` → `warn`, at or above `alert` → `alert`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub warn: f64,
    pub alert: f64,
}

impl Thresholds {
    /// `ok`, `warn` or `alert`; no rows (PSI NaN) is a `warn`: nothing
    /// arrived to compare, which is worth a look.
    pub fn status(&self, psi: f64) -> &'static str {
        if psi.is_nan() || (psi >= self.warn && psi < self.alert) {
            "warn"
        } else if psi >= self.alert {
            "alert"
        } else {
            "ok"
        }
    }
}

/// Compares `values` (NULL and NaN count as missing) with `reference`.
pub fn feature_drift(reference: &FeatureReference, values: &Float64Array) -> FeatureDrift {
    let rows = values.len();
    let mut present: Vec<f64> = values.iter().flatten().filter(|v| !v.is_nan()).collect();
    let missing = rows - present.len();
    let (psi_value, bins_ok) = match Bins::new(&reference.edges) {
        Some(bins) => {
            let mut counts = vec![0u64; bins.len()];
            bins.count(&present, &mut counts);
            counts[bins.null_bin()] += missing as u64;
            (psi(&expected_shares(reference), &counts), true)
        }
        None => (f64::NAN, false),
    };
    debug_assert!(bins_ok, "references have at most 9 edges");
    present.sort_by(f64::total_cmp);
    let ks = ks_against_quantiles(&reference.quantiles, &present);
    // The reference's sample: its non-NULL training rows.
    let reference_rows = (reference.rows as f64 * (1.0 - reference.null_fraction)).round() as usize;
    let (mean, std) = mean_std(present.iter().copied());
    let shift = if reference.std > 0.0 {
        (mean - reference.mean) / reference.std
    } else {
        f64::NAN
    };
    FeatureDrift {
        rows,
        psi: psi_value,
        ks_statistic: ks,
        ks_p_value: ks_p_value(ks, reference_rows, present.len()),
        current_mean: mean,
        current_std: std,
        mean_shift_std: shift,
        current_null_rate: if rows == 0 {
            f64::NAN
        } else {
            missing as f64 / rows as f64
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::dataset::Dataset;
    use crate::ml::reference::references;
    use rand::SeedableRng;
    use rand_distr_free::normal;

    /// Box–Muller normals (no extra dependency).
    mod rand_distr_free {
        use rand::Rng;
        pub fn normal(rng: &mut impl Rng, mean: f64, std: f64) -> f64 {
            let u: f64 = rng.random_range(f64::EPSILON..1.0);
            let v: f64 = rng.random_range(0.0..1.0);
            mean + std * (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        }
    }

    fn reference_of(values: Vec<f64>) -> FeatureReference {
        let n = values.len();
        references(&Dataset {
            feature_names: vec!["x".into()],
            columns: vec![values],
            target: vec![0.0; n],
        })
        .remove(0)
    }

    #[test]
    fn no_shift_is_ok_and_one_std_shift_alerts() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let train: Vec<f64> = (0..20_000).map(|_| normal(&mut rng, 10.0, 2.0)).collect();
        let r = reference_of(train);
        let t = Thresholds {
            warn: 0.1,
            alert: 0.25,
        };
        let same: Float64Array = (0..10_000)
            .map(|_| Some(normal(&mut rng, 10.0, 2.0)))
            .collect();
        let d = feature_drift(&r, &same);
        assert!(d.psi < 0.01, "{d:?}");
        assert_eq!(t.status(d.psi), "ok");
        assert!(d.ks_statistic < 0.03 && d.ks_p_value > 0.001, "{d:?}");
        assert!(d.mean_shift_std.abs() < 0.05);
        let shifted: Float64Array = (0..10_000)
            .map(|_| Some(normal(&mut rng, 12.0, 2.0)))
            .collect();
        let d = feature_drift(&r, &shifted);
        assert_eq!(t.status(d.psi), "alert", "{d:?}");
        assert!((d.mean_shift_std - 1.0).abs() < 0.05, "{d:?}");
        assert!(d.ks_statistic > 0.3 && d.ks_p_value < 1e-10, "{d:?}");
    }

    #[test]
    fn nulls_count_in_their_own_bin() {
        let r = reference_of((0..1000).map(f64::from).collect());
        let values: Float64Array = (0..1000)
            .map(|i| (i % 2 == 0).then_some(f64::from(i)))
            .collect();
        let d = feature_drift(&r, &values);
        assert_eq!(d.rows, 1000);
        assert_eq!(d.current_null_rate, 0.5);
        assert!(d.psi > 1.0, "half the rows NULL against none: {d:?}");
        let empty = Float64Array::from(Vec::<f64>::new());
        let d = feature_drift(&r, &empty);
        assert!(d.psi.is_nan() && d.ks_statistic.is_nan());
        let t = Thresholds {
            warn: 0.1,
            alert: 0.25,
        };
        assert_eq!(t.status(d.psi), "warn");
        assert_eq!(t.status(0.1), "warn");
        assert_eq!(t.status(0.25), "alert");
    }
}
