//! Seeded bootstrap confidence interval for the difference of a metric
//! between two independent samples (an A/B comparison of model versions:
//! each version served different requests, so the samples are resampled
//! separately, not in pairs).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Actual outcomes and predictions of one version.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    pub actual: &'a [f64],
    pub predicted: &'a [f64],
}

/// Percentile interval at `level` (0.95) of `metric(b) − metric(a)` over
/// `resamples` bootstrap draws, seeded so a query answers the same every
/// time. `None` when either sample is empty or `resamples` is 0.
pub fn difference_ci(
    a: Sample,
    b: Sample,
    metric: impl Fn(&[f64], &[f64]) -> f64,
    resamples: usize,
    seed: u64,
    level: f64,
) -> Option<(f64, f64)> {
    if a.actual.is_empty() || b.actual.is_empty() || resamples == 0 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draw = |s: Sample, y: &mut Vec<f64>, p: &mut Vec<f64>| {
        y.clear();
        p.clear();
        for _ in 0..s.actual.len() {
            let i = rng.random_range(0..s.actual.len());
            y.push(s.actual[i]);
            p.push(s.predicted[i]);
        }
    };
    let (mut ya, mut pa, mut yb, mut pb) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut diffs: Vec<f64> = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        draw(a, &mut ya, &mut pa);
        draw(b, &mut yb, &mut pb);
        let d = metric(&yb, &pb) - metric(&ya, &pa);
        if d.is_finite() {
            diffs.push(d);
        }
    }
    if diffs.is_empty() {
        return None;
    }
    diffs.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    let at = |q: f64| diffs[((diffs.len() - 1) as f64 * q).round() as usize];
    Some((at(tail), at(1.0 - tail)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::metrics::Metric;

    fn sample(n: usize, noise: f64, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let y: Vec<f64> = (0..n).map(|_| rng.random_range(0.0..10.0)).collect();
        let p = y
            .iter()
            .map(|v| v + rng.random_range(-noise..noise))
            .collect();
        (y, p)
    }

    #[test]
    fn interval_is_seeded_and_covers_the_difference() {
        let (ya, pa) = sample(2000, 1.0, 1);
        let (yb, pb) = sample(2000, 2.0, 2);
        let a = Sample {
            actual: &ya,
            predicted: &pa,
        };
        let b = Sample {
            actual: &yb,
            predicted: &pb,
        };
        let mae = |y: &[f64], p: &[f64]| Metric::Mae.compute(y, p);
        let ci = difference_ci(a, b, mae, 500, 42, 0.95).expect("non-empty");
        assert_eq!(difference_ci(a, b, mae, 500, 42, 0.95), Some(ci));
        // uniform noise on ±w has MAE w/2: the difference is about 0.5
        assert!(ci.0 < 0.5 && 0.5 < ci.1, "{ci:?}");
        assert!(ci.1 - ci.0 < 0.2, "{ci:?}");
        // the same sample against itself straddles zero
        let same = difference_ci(a, a, mae, 500, 7, 0.95).expect("non-empty");
        assert!(same.0 < 0.0 && 0.0 < same.1, "{same:?}");
        assert!(
            difference_ci(
                a,
                Sample {
                    actual: &[],
                    predicted: &[]
                },
                mae,
                10,
                1,
                0.95
            )
            .is_none()
        );
    }
}
