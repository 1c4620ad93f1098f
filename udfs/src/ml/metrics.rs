//! Evaluation metrics. Classification metrics take probabilities of class 1.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Rmse,
    Mae,
    R2,
    LogLoss,
    Auc,
    Accuracy,
}

impl Metric {
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Rmse => "rmse",
            Metric::Mae => "mae",
            Metric::R2 => "r2",
            Metric::LogLoss => "log_loss",
            Metric::Auc => "auc",
            Metric::Accuracy => "accuracy",
        }
    }

    pub fn is_classification(self) -> bool {
        matches!(self, Metric::LogLoss | Metric::Auc | Metric::Accuracy)
    }

    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::R2 | Metric::Auc | Metric::Accuracy)
    }

    /// Is `a` a better score than `b`?
    pub fn better(self, a: f64, b: f64) -> bool {
        if self.higher_is_better() {
            a > b
        } else {
            a < b
        }
    }

    /// Relative improvement of `score` over `baseline` in the metric's good
    /// direction (0.25 = 25 % better). For r2 and auc the baseline sits at
    /// 0 and 0.5, so the improvement is the absolute gain.
    pub fn improvement(self, score: f64, baseline: f64) -> f64 {
        match self {
            Metric::R2 | Metric::Auc => score - baseline,
            Metric::Accuracy => {
                if baseline > 0.0 {
                    (score - baseline) / baseline
                } else {
                    0.0
                }
            }
            _ => {
                if baseline > 0.0 {
                    (baseline - score) / baseline
                } else {
                    0.0
                }
            }
        }
    }

    pub fn compute(self, y: &[f64], pred: &[f64]) -> f64 {
        let n = y.len().max(1) as f64;
        match self {
            Metric::Rmse => (y
                .iter()
                .zip(pred)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                / n)
                .sqrt(),
            Metric::Mae => y.iter().zip(pred).map(|(a, b)| (a - b).abs()).sum::<f64>() / n,
            Metric::R2 => {
                let mean = y.iter().sum::<f64>() / n;
                let ss_tot: f64 = y.iter().map(|a| (a - mean).powi(2)).sum();
                let ss_res: f64 = y.iter().zip(pred).map(|(a, b)| (a - b).powi(2)).sum();
                if ss_tot > 0.0 {
                    1.0 - ss_res / ss_tot
                } else {
                    0.0
                }
            }
            Metric::LogLoss => {
                let eps = 1e-15;
                -y.iter()
                    .zip(pred)
                    .map(|(a, p)| {
                        let p = p.clamp(eps, 1.0 - eps);
                        a * p.ln() + (1.0 - a) * (1.0 - p).ln()
                    })
                    .sum::<f64>()
                    / n
            }
            Metric::Accuracy => {
                y.iter()
                    .zip(pred)
                    .filter(|(a, p)| (**p >= 0.5) == (**a >= 0.5))
                    .count() as f64
                    / n
            }
            Metric::Auc => auc(y, pred),
        }
    }
}

/// Area under the ROC curve via the rank statistic, ties counted half.
fn auc(y: &[f64], pred: &[f64]) -> f64 {
    let mut idx: Vec<usize> = (0..y.len()).collect();
    idx.sort_by(|&a, &b| pred[a].total_cmp(&pred[b]));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && pred[idx[j + 1]] == pred[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if y[k] >= 0.5 {
                rank_sum_pos += avg_rank;
            }
        }
        i = j + 1;
    }
    let pos = y.iter().filter(|v| **v >= 0.5).count() as f64;
    let neg = y.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return 0.5;
    }
    (rank_sum_pos - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let y = [1.0, 2.0, 3.0];
        assert!((Metric::Rmse.compute(&y, &[1.0, 2.0, 5.0]) - (4.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(Metric::Mae.compute(&y, &[1.0, 2.0, 5.0]), 2.0 / 3.0);
        assert_eq!(Metric::R2.compute(&y, &y), 1.0);
        let c = [0.0, 0.0, 1.0, 1.0];
        assert_eq!(Metric::Auc.compute(&c, &[0.1, 0.4, 0.35, 0.8]), 0.75);
        assert_eq!(Metric::Auc.compute(&c, &[0.5; 4]), 0.5);
        assert_eq!(Metric::Accuracy.compute(&c, &[0.1, 0.6, 0.7, 0.9]), 0.75);
        assert!((Metric::LogLoss.compute(&[1.0], &[0.5]) - 2f64.ln()).abs() < 1e-12);
        assert!(Metric::Rmse.better(1.0, 2.0) && Metric::Auc.better(0.9, 0.8));
        assert_eq!(Metric::Rmse.improvement(75.0, 100.0), 0.25);
    }
}
