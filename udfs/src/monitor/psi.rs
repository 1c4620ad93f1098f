//! Population stability index over a training reference's bins.
//!
//! The bins are the reference's decile edges (at most 9, so at most 10
//! value bins) plus one bin for NULL/NaN. Bin shares are taken over all
//! rows, NULLs included, so a feature that starts arriving empty drifts.
//!
//! Smoothing: a bin share of 0 makes `ln(p/q)` infinite, so every share is
//! clamped from below to [`EPSILON`] (1e-4) before the sum, on both sides,
//! without renormalising. A bin empty on both sides contributes exactly 0.
//!
//! ```
//! use voidx_udfs::monitor::psi::{Bins, psi};
//! let bins = Bins::new(&[1.0, 2.0]).unwrap();
//! let mut counts = vec![0u64; bins.len()];
//! for x in [0.5, 1.5, 2.5] { counts[bins.bin(x)] += 1; }
//! let expected = [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 0.0];
//! assert!(psi(&expected, &counts) < 1e-12);
//! ```

use crate::ml::reference::FeatureReference;

/// The smallest share a bin is given in the PSI sum.
pub const EPSILON: f64 = 1e-4;

/// Most value edges a reference has (deciles → 9); the kernel pads to this.
const MAX_EDGES: usize = 16;

/// Bin lookup for one reference: a branchless binary search over the edges
/// padded to 16 with +∞, so every value costs four compares and no
/// allocation. Bin `edges.len() + 1` (the last) is the NULL/NaN bin.
#[derive(Debug, Clone)]
pub struct Bins {
    padded: [f64; MAX_EDGES],
    edges: usize,
}

impl Bins {
    /// `None` when the reference has more edges than the kernel supports.
    pub fn new(edges: &[f64]) -> Option<Bins> {
        if edges.len() >= MAX_EDGES {
            return None;
        }
        let mut padded = [f64::INFINITY; MAX_EDGES];
        padded[..edges.len()].copy_from_slice(edges);
        Some(Bins {
            padded,
            edges: edges.len(),
        })
    }

    /// Value bins plus the NULL bin.
    pub fn len(&self) -> usize {
        self.edges + 2
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn null_bin(&self) -> usize {
        self.edges + 1
    }

    /// The bin of `x`: the number of edges `<= x` (as
    /// [`FeatureReference::bin`]), NaN in the NULL bin.
    #[inline(always)]
    pub fn bin(&self, x: f64) -> usize {
        if x.is_nan() {
            return self.null_bin();
        }
        // Invariant: the answer lies in [base, base + 2*half].
        let mut base = 0usize;
        let mut half = MAX_EDGES / 2;
        while half > 0 {
            base += usize::from(self.padded[base + half - 1] <= x) * half;
            half /= 2;
        }
        // +∞ padding counts for x = +∞ only; it belongs to the last value bin.
        base.min(self.edges)
    }

    /// Adds the bins of `values` (NaN as NULL) to `counts`.
    pub fn count(&self, values: &[f64], counts: &mut [u64]) {
        // Four independent lanes keep the CPU busy while each search waits
        // on its compares.
        let mut lanes = [[0u64; MAX_EDGES + 2]; 4];
        let chunks = values.chunks_exact(4);
        let rest = chunks.remainder();
        for c in chunks {
            lanes[0][self.bin(c[0])] += 1;
            lanes[1][self.bin(c[1])] += 1;
            lanes[2][self.bin(c[2])] += 1;
            lanes[3][self.bin(c[3])] += 1;
        }
        for x in rest {
            lanes[0][self.bin(*x)] += 1;
        }
        for (i, c) in counts.iter_mut().enumerate().take(self.len()) {
            *c += lanes.iter().map(|l| l[i]).sum::<u64>();
        }
    }
}

/// The expected share of each bin (value bins, then NULL) of a reference,
/// over all training rows.
pub fn expected_shares(reference: &FeatureReference) -> Vec<f64> {
    let non_null = 1.0 - reference.null_fraction;
    let mut shares: Vec<f64> = reference.fractions.iter().map(|f| f * non_null).collect();
    shares.push(reference.null_fraction);
    shares
}

/// PSI = Σ (a − e) · ln(a / e) over the bins, with `a` the observed shares
/// (`counts` over their total) and `e` the expected shares, both clamped to
/// [`EPSILON`]. NaN when nothing was counted.
pub fn psi(expected: &[f64], counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return f64::NAN;
    }
    expected
        .iter()
        .zip(counts)
        .map(|(e, c)| {
            let a = (*c as f64 / total as f64).max(EPSILON);
            let e = e.max(EPSILON);
            (a - e) * (a / e).ln()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn reference(edges: Vec<f64>, fractions: Vec<f64>, null_fraction: f64) -> FeatureReference {
        FeatureReference {
            feature: "x".into(),
            rows: 1000,
            null_fraction,
            mean: 0.0,
            std: 1.0,
            edges,
            fractions,
            quantiles: Vec::new(),
        }
    }

    #[test]
    fn bin_agrees_with_partition_point() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for n in 0..MAX_EDGES {
            let mut edges: Vec<f64> = (0..n).map(|_| rng.random_range(-5.0..5.0)).collect();
            edges.sort_by(f64::total_cmp);
            let r = reference(edges.clone(), vec![0.0; n + 1], 0.0);
            let bins = Bins::new(&edges).expect("fits");
            let probes = edges
                .iter()
                .copied()
                .chain((0..200).map(|_| rng.random_range(-6.0..6.0)))
                .chain([f64::INFINITY, f64::NEG_INFINITY]);
            for x in probes {
                assert_eq!(bins.bin(x), r.bin(x), "x = {x}, edges = {edges:?}");
            }
            assert_eq!(bins.bin(f64::NAN), n + 1);
        }
        assert!(Bins::new(&[0.0; MAX_EDGES]).is_none());
    }

    #[test]
    fn count_matches_one_by_one() {
        let bins = Bins::new(&[-1.0, 0.0, 1.0]).expect("fits");
        let values: Vec<f64> = (0..1003)
            .map(|i| {
                if i % 17 == 0 {
                    f64::NAN
                } else {
                    (i as f64).sin() * 2.0
                }
            })
            .collect();
        let mut counts = vec![0u64; bins.len()];
        bins.count(&values, &mut counts);
        let mut slow = vec![0u64; bins.len()];
        for v in &values {
            slow[bins.bin(*v)] += 1;
        }
        assert_eq!(counts, slow);
        assert_eq!(counts.iter().sum::<u64>(), 1003);
    }

    /// The textbook formula, written out with no shortcuts.
    fn reference_psi(expected: &[f64], counts: &[u64]) -> f64 {
        let n: u64 = counts.iter().sum();
        let mut total = 0.0;
        for i in 0..expected.len() {
            let mut a = counts[i] as f64 / n as f64;
            let mut e = expected[i];
            if a < EPSILON {
                a = EPSILON;
            }
            if e < EPSILON {
                e = EPSILON;
            }
            total += (a - e) * (a.ln() - e.ln());
        }
        total
    }

    #[test]
    fn psi_equals_reference_computation_and_is_non_negative() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for _ in 0..500 {
            let k = rng.random_range(2..12);
            let mut expected: Vec<f64> = (0..k).map(|_| rng.random_range(0.0..1.0)).collect();
            if rng.random_bool(0.3) {
                expected[0] = 0.0;
            }
            let s: f64 = expected.iter().sum();
            expected.iter_mut().for_each(|e| *e /= s);
            let counts: Vec<u64> = (0..k).map(|_| rng.random_range(0..1000)).collect();
            if counts.iter().sum::<u64>() == 0 {
                continue;
            }
            let a = psi(&expected, &counts);
            let b = reference_psi(&expected, &counts);
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
            assert!(a >= 0.0);
        }
    }

    #[test]
    fn identical_distribution_has_psi_near_zero() {
        let r = reference(vec![1.0, 2.0, 3.0], vec![0.25, 0.25, 0.25, 0.25], 0.1);
        let expected = expected_shares(&r);
        assert!((expected.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let counts = [225u64, 225, 225, 225, 100];
        assert!(psi(&expected, &counts).abs() < 1e-12);
        // sampled from the same distribution: small, not zero
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let bins = Bins::new(&r.edges).expect("fits");
        let mut counts = vec![0u64; bins.len()];
        let values: Vec<f64> = (0..100_000)
            .map(|_| {
                if rng.random_bool(0.1) {
                    f64::NAN
                } else {
                    rng.random_range(0.0..4.0)
                }
            })
            .collect();
        bins.count(&values, &mut counts);
        assert!(psi(&expected, &counts) < 0.001);
        assert!(psi(&expected, &[0; 5]).is_nan());
    }
}
