//! Kolmogorov–Smirnov statistics and the asymptotic p-value.
//!
//! A model version keeps 101 quantiles (0 %, 1 %, …, 100 %) of each
//! training feature, not its rows, so drift uses [`ks_against_quantiles`]:
//! the reference CDF is the piecewise-linear interpolation of the
//! quantiles (a step where quantiles tie, so discrete features keep their
//! atoms), compared with the exact empirical CDF of the current rows. The
//! interpolation is off by at most one percentile step between knots, so
//! the statistic carries an error of about ±0.01. The p-value then treats
//! it as a two-sample statistic with the reference's non-NULL training
//! rows as the first sample: `n_eff = n·m / (n + m)`.

/// Largest distance between the empirical CDFs of two sorted samples
/// (what `scipy.stats.ks_2samp` calls the statistic).
pub fn ks_two_sample(a: &[f64], b: &[f64]) -> f64 {
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 {
        return f64::NAN;
    }
    let (mut i, mut j, mut d) = (0usize, 0usize, 0.0f64);
    while i < n && j < m {
        let x = a[i].min(b[j]);
        while i < n && a[i] <= x {
            i += 1;
        }
        while j < m && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n as f64 - j as f64 / m as f64).abs());
    }
    d
}

/// CDF of the reference at `x` (right-continuous), `quantiles` at equal
/// probability steps from 0 to 1, interpolated linearly between them.
fn reference_cdf(quantiles: &[f64], x: f64, left: bool) -> f64 {
    let k = quantiles.len();
    let step = 1.0 / (k - 1) as f64;
    // count of knots strictly below (left limit) or at most (value) x
    let below = if left {
        quantiles.partition_point(|q| *q < x)
    } else {
        quantiles.partition_point(|q| *q <= x)
    };
    if below == 0 {
        return 0.0;
    }
    if below == k {
        return 1.0;
    }
    let (lo, hi) = (quantiles[below - 1], quantiles[below]);
    let within = if hi > lo { (x - lo) / (hi - lo) } else { 0.0 };
    ((below - 1) as f64 + within.clamp(0.0, 1.0)) * step
}

/// KS distance between the reference described by `quantiles` (see the
/// module docs) and the sorted non-NaN sample `current`. NaN when either is
/// empty.
pub fn ks_against_quantiles(quantiles: &[f64], current: &[f64]) -> f64 {
    let m = current.len();
    if quantiles.len() < 2 || m == 0 {
        return f64::NAN;
    }
    let mut d = 0.0f64;
    let mut i = 0;
    // At every distinct value: compare both one-sided limits.
    while i < m {
        let x = current[i];
        let mut j = i;
        while j < m && current[j] <= x {
            j += 1;
        }
        let (before, after) = (i as f64 / m as f64, j as f64 / m as f64);
        d = d
            .max((before - reference_cdf(quantiles, x, true)).abs())
            .max((after - reference_cdf(quantiles, x, false)).abs());
        i = j;
    }
    // Between sample points the empirical CDF is flat and the reference
    // rises, so the supremum sits at a sample point's left or right limit.
    d
}

/// Survival function of the Kolmogorov distribution, `P(K > λ)`.
pub fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda.is_nan() {
        return f64::NAN;
    }
    if lambda <= 0.0 {
        return 1.0;
    }
    if lambda < 1.18 {
        // Jacobi-theta form, fast for small λ.
        let y = (-std::f64::consts::PI * std::f64::consts::PI / (8.0 * lambda * lambda)).exp();
        let s: f64 = (0..6)
            .map(|j| y.powi((2 * j + 1) * (2 * j + 1)))
            .sum::<f64>();
        let cdf = (2.0 * std::f64::consts::PI).sqrt() / lambda * s;
        (1.0 - cdf).clamp(0.0, 1.0)
    } else {
        let x = (-2.0 * lambda * lambda).exp();
        let mut s = 0.0;
        let mut sign = 1.0;
        for j in 1..=100i32 {
            let term = sign * x.powi(j * j);
            s += term;
            if term.abs() < 1e-17 {
                break;
            }
            sign = -sign;
        }
        (2.0 * s).clamp(0.0, 1.0)
    }
}

/// Asymptotic p-value of a two-sample KS statistic `d` with sample sizes
/// `n` and `m`, with Stephens' small-sample correction
/// `λ = (√ne + 0.12 + 0.11/√ne)·d`.
pub fn ks_p_value(d: f64, n: usize, m: usize) -> f64 {
    if n == 0 || m == 0 || d.is_nan() {
        return f64::NAN;
    }
    let ne = (n as f64 * m as f64) / (n + m) as f64;
    let s = ne.sqrt();
    kolmogorov_q((s + 0.12 + 0.11 / s) * d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn kolmogorov_distribution_known_values() {
        // Tabulated critical values: P(K > λ) = α.
        for (lambda, alpha) in [
            (1.2238, 0.10),
            (1.3581, 0.05),
            (1.4802, 0.025),
            (1.6276, 0.01),
            (1.9495, 0.001),
        ] {
            let q = kolmogorov_q(lambda);
            assert!((q - alpha).abs() < 2e-4, "Q({lambda}) = {q}, want {alpha}");
        }
        // Both series agree where they meet, and the ends are right.
        let (a, b) = (kolmogorov_q(1.1799999), kolmogorov_q(1.18));
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        assert!((kolmogorov_q(0.5) - 0.963_945).abs() < 1e-5);
        assert_eq!(kolmogorov_q(0.0), 1.0);
        assert!(kolmogorov_q(5.0) < 1e-20);
    }

    #[test]
    fn two_sample_statistic() {
        assert_eq!(ks_two_sample(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]), 0.0);
        assert_eq!(ks_two_sample(&[1.0, 2.0], &[3.0, 4.0]), 1.0);
        assert!((ks_two_sample(&[1.0, 2.0, 3.0, 4.0], &[3.0, 4.0, 5.0, 6.0]) - 0.5).abs() < 1e-12);
        assert!(ks_two_sample(&[], &[1.0]).is_nan());
    }

    fn percentiles(sorted: &[f64]) -> Vec<f64> {
        let n = sorted.len();
        (0..=100)
            .map(|i| sorted[((n - 1) as f64 * i as f64 / 100.0).round() as usize])
            .collect()
    }

    #[test]
    fn quantile_approximation_tracks_the_exact_statistic() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for shift in [0.0, 0.1, 0.5, 1.0] {
            let mut a: Vec<f64> = (0..20_000).map(|_| rng.random_range(0.0..1.0)).collect();
            let mut b: Vec<f64> = (0..5_000)
                .map(|_| rng.random_range(0.0..1.0) + shift)
                .collect();
            a.sort_by(f64::total_cmp);
            b.sort_by(f64::total_cmp);
            let exact = ks_two_sample(&a, &b);
            let approx = ks_against_quantiles(&percentiles(&a), &b);
            assert!(
                (exact - approx).abs() < 0.015,
                "shift {shift}: {exact} vs {approx}"
            );
        }
        // discrete values keep their atoms
        let mut a: Vec<f64> = (0..1000).map(|i| f64::from(i % 4)).collect();
        a.sort_by(f64::total_cmp);
        let b = a.clone();
        assert!(ks_against_quantiles(&percentiles(&a), &b) < 0.015);
        let c = vec![3.0; 100];
        assert!((ks_against_quantiles(&percentiles(&a), &c) - 0.75).abs() < 0.015);
    }

    #[test]
    fn p_value_is_large_without_shift_and_tiny_with_one() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let mut a: Vec<f64> = (0..10_000).map(|_| rng.random_range(0.0..1.0)).collect();
        let mut b: Vec<f64> = (0..10_000).map(|_| rng.random_range(0.0..1.0)).collect();
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        assert!(ks_p_value(ks_two_sample(&a, &b), a.len(), b.len()) > 0.01);
        let c: Vec<f64> = b.iter().map(|x| x + 0.1).collect();
        assert!(ks_p_value(ks_two_sample(&a, &c), a.len(), c.len()) < 1e-10);
        // n = m = 100, D = 0.2: λ ≈ 1.44 with the correction (1.41 without,
        // p = 0.0366); exact tables give about 0.03.
        let p = ks_p_value(0.2, 100, 100);
        assert!((0.025..0.037).contains(&p), "{p}");
    }
}
