//! Conformal prediction intervals from out-of-fold absolute residuals.
//!
//! Every training row has a residual from a model that did not see it. For
//! a level `1 - α`, the interval is `prediction ± q`, where `q` is the
//! `⌈(n + 1)(1 - α)⌉`-th smallest residual: under exchangeability a stated
//! 90 % covers about 90 % of unseen rows. The artifact keeps at most
//! [`MAX_POINTS`] residual quantiles, enough for any level to 0.1 %.

use serde::{Deserialize, Serialize};

use crate::ml::MlError;

pub const MAX_POINTS: usize = 2001;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conformal {
    /// Number of out-of-fold residuals.
    pub n: usize,
    /// Sorted residual quantiles at evenly spaced ranks (all of them when n is small).
    pub residuals: Vec<f64>,
}

impl Conformal {
    pub fn from_residuals(mut residuals: Vec<f64>) -> Option<Conformal> {
        residuals.retain(|r| r.is_finite());
        if residuals.is_empty() {
            return None;
        }
        residuals.sort_by(f64::total_cmp);
        let n = residuals.len();
        let kept = if n <= MAX_POINTS {
            residuals
        } else {
            (0..MAX_POINTS)
                .map(|i| residuals[i * (n - 1) / (MAX_POINTS - 1)])
                .collect()
        };
        Some(Conformal { n, residuals: kept })
    }

    /// Half-width of the interval at `level` (e.g. 0.9).
    pub fn half_width(&self, level: f64) -> Result<f64, MlError> {
        if !(level > 0.0 && level < 1.0) {
            return Err(MlError::InvalidInput(format!(
                "interval level must be between 0 and 1 (e.g. 0.9), got {level}"
            )));
        }
        let rank = ((self.n as f64 + 1.0) * level).ceil() as usize; // 1-based
        if rank > self.n {
            // Too few residuals to promise this level: the honest answer is unbounded.
            return Ok(f64::INFINITY);
        }
        let pos = if self.n <= 1 {
            0.0
        } else {
            (rank - 1) as f64 * (self.residuals.len() - 1) as f64 / (self.n - 1) as f64
        };
        let lo = pos.floor() as usize;
        let hi = pos.ceil() as usize;
        let t = pos - lo as f64;
        Ok(self.residuals[lo] * (1.0 - t) + self.residuals[hi] * t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn exact_ranks_for_small_samples() {
        let c = Conformal::from_residuals((1..=9).map(f64::from).collect()).unwrap();
        // (9 + 1) * 0.8 = 8 → 8th smallest
        assert_eq!(c.half_width(0.8).unwrap(), 8.0);
        assert_eq!(c.half_width(0.95).unwrap(), f64::INFINITY);
        assert!(c.half_width(1.5).is_err());
    }

    /// Property: on exchangeable data the interval covers unseen points at
    /// about the nominal level, also after compressing many residuals.
    #[test]
    fn coverage_is_near_nominal() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let calib: Vec<f64> = (0..20_000)
            .map(|_| (rng.random::<f64>() - 0.5).abs() * 4.0)
            .collect();
        let c = Conformal::from_residuals(calib).unwrap();
        for level in [0.5, 0.8, 0.9, 0.95] {
            let q = c.half_width(level).unwrap();
            let covered = (0..20_000)
                .filter(|_| (rng.random::<f64>() - 0.5).abs() * 4.0 <= q)
                .count() as f64
                / 20_000.0;
            assert!((covered - level).abs() < 0.01, "level {level}: {covered}");
        }
    }
}
