//! k-fold cross-validation: fold scores plus out-of-fold raw scores, which
//! feed the conformal intervals and the ensemble weights.
//!
//! Folds run on scoped threads (the gbdt trainer is single-threaded), and
//! results are put back in fold order, so the outcome does not depend on
//! the thread count.

use std::sync::Mutex;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::ml::MlError;
use crate::ml::dataset::Dataset;
use crate::ml::forest::{Forest, Link};
use crate::ml::metrics::Metric;

/// Fold id (0..k) of every row: a seeded shuffle dealt round-robin.
pub fn assign_folds(n: usize, k: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut fold = vec![0; n];
    for (pos, &row) in order.iter().enumerate() {
        fold[row] = pos % k;
    }
    fold
}

/// Rows in fold `f` and the rest.
pub fn split(fold_of: &[usize], f: usize) -> (Vec<usize>, Vec<usize>) {
    let mut train = Vec::new();
    let mut valid = Vec::new();
    for (row, &k) in fold_of.iter().enumerate() {
        if k == f {
            valid.push(row)
        } else {
            train.push(row)
        }
    }
    (train, valid)
}

#[derive(Debug, Clone)]
pub struct FoldScore {
    pub fold: usize,
    pub score: f64,
    pub duration_ms: u64,
}

#[derive(Debug, Clone)]
pub struct CvResult {
    pub folds: Vec<FoldScore>,
    /// Raw score of every row from the model that did not see it.
    pub oof_raw: Vec<f64>,
    pub link: Link,
}

impl CvResult {
    pub fn mean(&self) -> f64 {
        mean_std(self.folds.iter().map(|f| f.score)).0
    }
    pub fn std(&self) -> f64 {
        mean_std(self.folds.iter().map(|f| f.score)).1
    }
}

/// Mean and sample standard deviation.
pub fn mean_std(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let v: Vec<f64> = values.collect();
    let n = v.len() as f64;
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// A fold's score, its validation rows and their raw scores.
type FoldOutcome = (FoldScore, Vec<usize>, Vec<f64>, Link);

/// Scores each fold of `fold_of` with a model from `fit`, in parallel;
/// `on_fold` hears of each fold as it finishes (in finishing order).
pub fn cross_validate(
    data: &Dataset,
    fold_of: &[usize],
    k: usize,
    metric: Metric,
    fit: &(dyn Fn(&Dataset) -> Result<Forest, MlError> + Sync),
    on_fold: &(dyn Fn(&FoldScore) + Sync),
) -> Result<CvResult, MlError> {
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<Option<Result<FoldOutcome, MlError>>>> =
        Mutex::new((0..k).map(|_| None).collect());
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(k);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let f = {
                        let mut n = next.lock().unwrap_or_else(|p| p.into_inner());
                        if *n >= k {
                            break;
                        }
                        *n += 1;
                        *n - 1
                    };
                    let outcome = run_fold(data, fold_of, f, metric, fit);
                    if let Ok((score, ..)) = &outcome {
                        on_fold(score);
                    }
                    results.lock().unwrap_or_else(|p| p.into_inner())[f] = Some(outcome);
                }
            });
        }
    });
    let mut oof_raw = vec![f64::NAN; data.n_rows()];
    let mut folds = Vec::with_capacity(k);
    let mut link = Link::Identity;
    for r in results.into_inner().unwrap_or_else(|p| p.into_inner()) {
        let (score, valid, raw, l) =
            r.ok_or_else(|| MlError::InvalidInput("a cross-validation fold did not run".into()))??;
        for (row, v) in valid.into_iter().zip(raw) {
            oof_raw[row] = v;
        }
        folds.push(score);
        link = l;
    }
    Ok(CvResult {
        folds,
        oof_raw,
        link,
    })
}

fn run_fold(
    data: &Dataset,
    fold_of: &[usize],
    f: usize,
    metric: Metric,
    fit: &(dyn Fn(&Dataset) -> Result<Forest, MlError> + Sync),
) -> Result<FoldOutcome, MlError> {
    let start = Instant::now();
    let (train_rows, valid_rows) = split(fold_of, f);
    if train_rows.is_empty() || valid_rows.is_empty() {
        return Err(MlError::InvalidInput(format!(
            "{} rows are too few for {} folds. Help: lower cv_folds or use more rows",
            fold_of.len(),
            fold_of.iter().max().map_or(0, |m| m + 1)
        )));
    }
    let forest = fit(&data.subset(&train_rows))?;
    let valid = data.subset(&valid_rows);
    let mut raw = vec![0.0; valid.n_rows()];
    forest.predict_raw(&valid.column_refs(), &mut raw);
    let pred: Vec<f64> = raw.iter().map(|r| forest.link.apply(*r)).collect();
    let score = metric.compute(&valid.target, &pred);
    Ok((
        FoldScore {
            fold: f,
            score,
            duration_ms: start.elapsed().as_millis() as u64,
        },
        valid_rows,
        raw,
        forest.link,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_balanced_and_seeded() {
        let a = assign_folds(103, 5, 7);
        assert_eq!(a, assign_folds(103, 5, 7));
        assert_ne!(a, assign_folds(103, 5, 8));
        for f in 0..5 {
            let n = a.iter().filter(|k| **k == f).count();
            assert!(n == 20 || n == 21);
        }
        let (m, s) = mean_std([1.0, 2.0, 3.0].into_iter());
        assert_eq!((m, s), (2.0, 1.0));
    }
}
