//! Ensemble weights fitted on out-of-fold raw scores: non-negative weights
//! summing to one that minimise squared error (regression) or log loss
//! (classification, weights on log-odds). Both losses are convex in the
//! weights, so projected gradient descent on the simplex finds the optimum.

use crate::ml::options::Task;

pub fn fit_weights(oof: &[Vec<f64>], y: &[f64], task: Task) -> Vec<f64> {
    let m = oof.len();
    if m == 1 {
        return vec![1.0];
    }
    let n = y.len() as f64;
    let loss_grad = |w: &[f64]| -> (f64, Vec<f64>) {
        let mut loss = 0.0;
        let mut grad = vec![0.0; m];
        for (r, &t) in y.iter().enumerate() {
            let z: f64 = (0..m).map(|j| w[j] * oof[j][r]).sum();
            let (l, dz) = match task {
                Task::Regression => ((z - t).powi(2), 2.0 * (z - t)),
                Task::Classification => {
                    let p = 1.0 / (1.0 + (-z).exp());
                    let p = p.clamp(1e-15, 1.0 - 1e-15);
                    (-(t * p.ln() + (1.0 - t) * (1.0 - p).ln()), p - t)
                }
            };
            loss += l;
            for j in 0..m {
                grad[j] += dz * oof[j][r];
            }
        }
        (loss / n, grad.into_iter().map(|g| g / n).collect())
    };
    let mut w = vec![1.0 / m as f64; m];
    let (mut loss, mut grad) = loss_grad(&w);
    let mut step = 1.0 / (1.0 + grad.iter().map(|g| g.abs()).fold(0.0, f64::max));
    for _ in 0..500 {
        let candidate = project(
            &w.iter()
                .zip(&grad)
                .map(|(w, g)| w - step * g)
                .collect::<Vec<_>>(),
        );
        let (l, g) = loss_grad(&candidate);
        if l <= loss {
            let done = (loss - l) < 1e-12 * (1.0 + loss);
            w = candidate;
            loss = l;
            grad = g;
            step *= 1.2;
            if done {
                break;
            }
        } else {
            step *= 0.5;
            if step < 1e-14 {
                break;
            }
        }
    }
    w
}

/// Euclidean projection onto the probability simplex.
fn project(v: &[f64]) -> Vec<f64> {
    let mut u = v.to_vec();
    u.sort_by(|a, b| b.total_cmp(a));
    let mut cumsum = 0.0;
    let mut theta = 0.0;
    for (i, x) in u.iter().enumerate() {
        cumsum += x;
        let t = (cumsum - 1.0) / (i + 1) as f64;
        if x - t > 0.0 {
            theta = t;
        }
    }
    v.iter().map(|x| (x - theta).max(0.0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_better_member_and_mixes() {
        let y: Vec<f64> = (0..200).map(|i| (i as f64).sin()).collect();
        let good = y.clone();
        let bad: Vec<f64> = y.iter().map(|v| v + 1.0).collect();
        let w = fit_weights(&[bad, good], &y, Task::Regression);
        assert!(w[1] > 0.99, "{w:?}");
        // two members with opposite errors mix evenly
        let lo: Vec<f64> = y.iter().map(|v| v - 0.5).collect();
        let hi: Vec<f64> = y.iter().map(|v| v + 0.5).collect();
        let w = fit_weights(&[lo, hi], &y, Task::Regression);
        assert!(
            (w[0] - 0.5).abs() < 1e-3 && (w.iter().sum::<f64>() - 1.0).abs() < 1e-9,
            "{w:?}"
        );
        assert_eq!(project(&[2.0, 0.0]), vec![1.0, 0.0]);
    }
}
