//! The losses the histogram trainer boosts: gradients, hessians, the base
//! score each starts from, and the validation metric for early stopping.
//!
//! | loss      | gradient of `score - y`            | hessian      | base score         |
//! |-----------|------------------------------------|--------------|--------------------|
//! | `l2`      | `d`                                | 1            | mean               |
//! | `l1`      | `sign(d)`                          | 1            | median             |
//! | `huber`   | `d` clipped to `[-delta, delta]`   | 1            | median             |
//! | `log_loss`| `p - y`, `p = sigmoid(score)`      | `p (1 - p)`  | log-odds of mean   |
//!
//! L1 trees choose splits on the sign gradients, then refit each leaf to the
//! median residual of its rows (LightGBM's `RenewTreeOutput`): sign
//! gradients alone only move a leaf by at most the learning rate. Huber keeps
//! LightGBM's gradient-step leaves; its base score is the median because
//! Huber is chosen when outliers would drag the mean.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ml::MlError;
use crate::ml::forest::Link;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistLoss {
    L2,
    L1,
    Huber,
    LogLoss,
}

/// Rows per gradient task.
const CHUNK: usize = 1 << 13;

impl HistLoss {
    /// All hessians are 1: the trainer then keeps no hessian array.
    pub fn constant_hessian(self) -> bool {
        !matches!(self, HistLoss::LogLoss)
    }

    pub fn link(self) -> Link {
        match self {
            HistLoss::LogLoss => Link::Logistic,
            _ => Link::Identity,
        }
    }

    /// Refuses targets the loss cannot learn from.
    pub fn check_target(self, y: &[f64]) -> Result<(), MlError> {
        if let Some(bad) = y.iter().find(|v| !v.is_finite()) {
            return Err(MlError::InvalidInput(format!(
                "the target contains {bad}. Help: filter such rows out in the training query"
            )));
        }
        if self == HistLoss::LogLoss
            && let Some(bad) = y.iter().find(|v| **v != 0.0 && **v != 1.0)
        {
            return Err(MlError::InvalidInput(format!(
                "log_loss needs labels 0 and 1, but the target contains {bad}. Help: map the labels in the query, e.g. CASE WHEN label = 'yes' THEN 1 ELSE 0 END"
            )));
        }
        Ok(())
    }

    /// The constant raw score boosting starts from.
    pub fn base_score(self, y: &[f64]) -> f64 {
        let mean = y.iter().sum::<f64>() / y.len().max(1) as f64;
        match self {
            HistLoss::L2 => mean,
            HistLoss::L1 | HistLoss::Huber => median(&mut y.to_vec()),
            HistLoss::LogLoss => {
                let p = mean.clamp(1e-15, 1.0 - 1e-15);
                (p / (1.0 - p)).ln()
            }
        }
    }

    /// Fills `g` (and `h` unless the hessian is constant) for raw `score`.
    pub fn gradients(self, y: &[f64], score: &[f64], delta: f64, g: &mut [f64], h: &mut [f64]) {
        let grad = |y: f64, s: f64| -> (f64, f64) {
            let d = s - y;
            match self {
                HistLoss::L2 => (d, 1.0),
                HistLoss::L1 => (
                    if d > 0.0 {
                        1.0
                    } else if d < 0.0 {
                        -1.0
                    } else {
                        0.0
                    },
                    1.0,
                ),
                HistLoss::Huber => (d.clamp(-delta, delta), 1.0),
                HistLoss::LogLoss => {
                    let p = 1.0 / (1.0 + (-s).exp());
                    (p - y, (p * (1.0 - p)).max(1e-16))
                }
            }
        };
        if self.constant_hessian() {
            g.par_chunks_mut(CHUNK)
                .zip(y.par_chunks(CHUNK).zip(score.par_chunks(CHUNK)))
                .for_each(|(g, (y, s))| {
                    for ((g, &y), &s) in g.iter_mut().zip(y).zip(s) {
                        *g = grad(y, s).0;
                    }
                });
        } else {
            g.par_chunks_mut(CHUNK)
                .zip(h.par_chunks_mut(CHUNK))
                .zip(y.par_chunks(CHUNK).zip(score.par_chunks(CHUNK)))
                .for_each(|((g, h), (y, s))| {
                    for (((g, h), &y), &s) in g.iter_mut().zip(h.iter_mut()).zip(y).zip(s) {
                        (*g, *h) = grad(y, s);
                    }
                });
        }
    }

    /// Mean loss of raw scores: the early-stopping metric.
    pub fn mean_loss(self, y: &[f64], score: &[f64], delta: f64) -> f64 {
        let total: f64 = y
            .iter()
            .zip(score)
            .map(|(&y, &s)| {
                let d = s - y;
                match self {
                    HistLoss::L2 => d * d,
                    HistLoss::L1 => d.abs(),
                    HistLoss::Huber if d.abs() <= delta => 0.5 * d * d,
                    HistLoss::Huber => delta * (d.abs() - 0.5 * delta),
                    // log(1 + e^s) - y s, written to stay finite for large |s|.
                    HistLoss::LogLoss => s.max(0.0) + (-s.abs()).exp().ln_1p() - y * s,
                }
            })
            .sum();
        total / y.len().max(1) as f64
    }

    /// Whether leaves are refit to the median residual after the tree grows.
    pub fn refits_leaves(self) -> bool {
        self == HistLoss::L1
    }
}

/// The median (mean of the two middle values for an even count); reorders `v`.
pub fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    let (_, &mut hi, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        return hi;
    }
    let lo = v[..n / 2].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    lo + (hi - lo) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_scores() {
        let y = [1.0, 2.0, 10.0, 3.0];
        assert_eq!(HistLoss::L2.base_score(&y), 4.0);
        assert_eq!(HistLoss::L1.base_score(&y), 2.5);
        assert_eq!(HistLoss::Huber.base_score(&[5.0, 1.0, 9.0]), 5.0);
        let b = HistLoss::LogLoss.base_score(&[1.0, 0.0, 0.0, 0.0]);
        assert!((b - (0.25f64 / 0.75).ln()).abs() < 1e-12);
    }

    /// Gradients match finite differences of the loss.
    #[test]
    fn gradients_are_derivatives_of_the_loss() {
        let y = [0.0, 1.0, 1.0, 0.0];
        let s = [0.3, -1.2, 2.5, -0.7];
        for loss in [
            HistLoss::L2,
            HistLoss::Huber,
            HistLoss::LogLoss,
            HistLoss::L1,
        ] {
            let (mut g, mut h) = (vec![0.0; 4], vec![0.0; 4]);
            loss.gradients(&y, &s, 1.0, &mut g, &mut h);
            for i in 0..4 {
                let at = |x: f64| loss.mean_loss(&y[i..=i], &[x], 1.0);
                let e = 1e-6;
                let fd = (at(s[i] + e) - at(s[i] - e)) / (2.0 * e);
                // L2's loss here is d^2, twice the conventional half.
                let scale = if loss == HistLoss::L2 { 2.0 } else { 1.0 };
                assert!(
                    (scale * g[i] - fd).abs() < 1e-5,
                    "{loss:?} row {i}: {} vs {fd}",
                    g[i]
                );
            }
        }
    }

    #[test]
    fn log_loss_refuses_other_labels() {
        let e = HistLoss::LogLoss.check_target(&[0.0, 2.0]).unwrap_err();
        assert!(e.to_string().contains("labels 0 and 1"), "{e}");
        assert!(HistLoss::L2.check_target(&[f64::NAN]).is_err());
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}
