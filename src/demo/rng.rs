//! Seeded random streams and the handful of distributions the generator needs.
//!
//! The samplers are written out here (instead of pulling in `rand_distr`) so the exact
//! arithmetic, and therefore the data set, is pinned by this file alone.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Purposes of independent streams; each table (and each customer within it) draws from its
/// own stream, so changing how one table is generated never shifts another table's numbers.
pub(super) const CUSTOMERS: u64 = 1;
pub(super) const PRODUCTS: u64 = 2;
pub(super) const ORDERS: u64 = 3;
pub(super) const LINES: u64 = 4;
pub(super) const TOUCHES: u64 = 5;
pub(super) const MARKET: u64 = 6;

/// SplitMix64 finaliser: spreads nearby inputs (seed 1, 2, 3 …) over the whole state space.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The stream for (`seed`, `purpose`, `index`).
pub(super) fn stream(seed: u64, purpose: u64, index: u64) -> ChaCha8Rng {
    let key = splitmix(splitmix(splitmix(seed) ^ purpose) ^ index);
    ChaCha8Rng::seed_from_u64(key)
}

/// Uniform in [0, 1).
pub(super) fn uniform(rng: &mut impl Rng) -> f64 {
    rng.random::<f64>()
}

/// Uniform in [lo, hi).
pub(super) fn between(rng: &mut impl Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * uniform(rng)
}

pub(super) fn chance(rng: &mut impl Rng, p: f64) -> bool {
    uniform(rng) < p
}

/// One of `options`, uniformly; `options` must not be empty.
pub(super) fn one_of<T: Copy>(rng: &mut impl Rng, options: &[T]) -> T {
    options[((uniform(rng) * options.len() as f64) as usize).min(options.len() - 1)]
}

/// Standard normal by Box–Muller (one of the pair is dropped: simpler, and speed is ample).
pub(super) fn normal(rng: &mut impl Rng) -> f64 {
    let u1 = 1.0 - uniform(rng); // (0, 1]: keeps ln finite
    let u2 = uniform(rng);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// exp(N(mu, sigma²)).
pub(super) fn lognormal(rng: &mut impl Rng, mu: f64, sigma: f64) -> f64 {
    (mu + sigma * normal(rng)).exp()
}

/// Exponential waiting time with the given rate (mean 1 / rate).
pub(super) fn exponential(rng: &mut impl Rng, rate: f64) -> f64 {
    -(1.0 - uniform(rng)).ln() / rate
}

/// Poisson count: Knuth's product method for small means, a rounded normal beyond that.
pub(super) fn poisson(rng: &mut impl Rng, mean: f64) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 30.0 {
        return (mean + mean.sqrt() * normal(rng)).round().max(0.0) as u32;
    }
    let limit = (-mean).exp();
    let mut product = uniform(rng);
    let mut k = 0;
    while product > limit {
        product *= uniform(rng);
        k += 1;
    }
    k
}

/// A discrete distribution over indices 0..n, sampled by binary search on the running sum.
pub(super) struct Weighted {
    cumulative: Vec<f64>,
}

impl Weighted {
    pub(super) fn new(weights: impl IntoIterator<Item = f64>) -> Self {
        let mut total = 0.0;
        let cumulative = weights
            .into_iter()
            .map(|w| {
                total += w.max(0.0);
                total
            })
            .collect();
        Self { cumulative }
    }

    pub(super) fn sample(&self, rng: &mut impl Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = uniform(rng) * total;
        let i = self.cumulative.partition_point(|&c| c <= x);
        i.min(self.cumulative.len().saturating_sub(1))
    }
}

/// Round money to cents.
pub(super) fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
