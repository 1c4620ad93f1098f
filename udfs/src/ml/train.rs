//! `Train`: from a dataset and options to a finished model — candidates
//! (one configuration, search trials or ensemble members) scored by k-fold
//! CV against a constant baseline, the winner refitted on all rows, plus its
//! conformal residuals, references and importances.
//!
//! ```no_run
//! # use voidx_udfs::ml::{dataset::Dataset, options::TrainOptions, train::Train};
//! # fn demo(data: Dataset) -> Result<(), voidx_udfs::ml::MlError> {
//! let outcome = Train::new(data, TrainOptions::parse(r#"{"cv_folds": 5}"#)?)
//!     .with_progress(|runs| println!("{} runs done", runs.len()))
//!     .run()?;
//! println!("{:?} ± {:?}", outcome.cv_mean, outcome.cv_std);
//! # Ok(()) }
//! ```

use std::time::Instant;

use serde::Serialize;

use crate::ml::MlError;
use crate::ml::artifact::ModelArtifact;
use crate::ml::conformal::Conformal;
use crate::ml::cv::{self, CvResult};
use crate::ml::dataset::Dataset;
use crate::ml::ensemble::fit_weights;
use crate::ml::forest::Forest;
use crate::ml::gbdt_trainer;
use crate::ml::hist::{self, HistLoss};
use crate::ml::metrics::Metric;
use crate::ml::options::{Algorithm, Growth, Objective, Params, Task, TrainOptions, Trainer};
use crate::ml::reference::references;
use crate::ml::search;
use crate::ml::segments;
use crate::ml::shap::{ShapScratch, explain_row};

/// One fold of one candidate (`fold: None` = the candidate's CV summary).
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub trial: usize,
    pub fold: Option<usize>,
    /// `trial` (search or single configuration), `member` (ensemble member), `baseline`.
    pub role: &'static str,
    pub params: Params,
    pub metric: Metric,
    pub score: f64,
    pub duration_ms: u64,
}

#[derive(Debug, Clone)]
pub struct TrainOutcome {
    pub artifact: ModelArtifact,
    pub algorithm: Algorithm,
    /// The chosen parameters, or the members and their weights.
    pub params: serde_json::Value,
    pub metric: Metric,
    pub cv_mean: Option<f64>,
    pub cv_std: Option<f64>,
    /// The constant predictor's score (CV when folds > 0, else in-sample).
    pub baseline: f64,
    pub improvement: f64,
    pub train_score: f64,
    pub rows: usize,
    pub gain: Vec<f64>,
    pub mean_abs_shap: Vec<f64>,
    pub runs: Vec<RunRecord>,
}

type Progress = Box<dyn Fn(&[RunRecord]) + Send + Sync>;

/// One finished cross-validation fold, for progress reports.
#[derive(Debug, Clone, Copy)]
pub struct FoldDone {
    /// The candidate (0-based) and how many there are.
    pub trial: usize,
    pub trials: usize,
    /// Folds of this candidate finished so far, of `folds`.
    pub done: usize,
    pub folds: usize,
    pub metric: Metric,
    pub score: f64,
}

type FoldProgress = Box<dyn Fn(FoldDone) + Send + Sync>;

pub struct Train {
    data: Dataset,
    options: TrainOptions,
    progress: Option<Progress>,
    fold_progress: Option<FoldProgress>,
}

/// The default ensemble: leaf-wise and depth-wise histogram trees (the
/// LightGBM and XGBoost shapes) plus the exact-greedy trainer.
fn default_members(base: &Params) -> Vec<Params> {
    let leafwise = Params {
        algorithm: Trainer::Hist,
        growth: Growth::Leafwise,
        ..base.clone()
    };
    let depthwise = Params {
        algorithm: Trainer::Hist,
        growth: Growth::Depthwise,
        max_depth: Some(base.max_depth.filter(|d| *d > 0).unwrap_or(6)),
        ..base.clone()
    };
    let exact = Params {
        algorithm: Trainer::Gbdt,
        max_depth: Some(4),
        n_estimators: base.n_estimators.min(200),
        ..base.clone()
    };
    vec![leafwise, depthwise, exact]
}

/// Trains one configuration with its trainer.
pub fn fit(
    data: &Dataset,
    params: &Params,
    objective: Objective,
    seed: u64,
) -> Result<Forest, MlError> {
    match params.algorithm {
        Trainer::Gbdt => gbdt_trainer::fit(data, params, objective),
        Trainer::Hist => {
            let loss = match objective {
                Objective::SquaredError => HistLoss::L2,
                Objective::AbsoluteError => HistLoss::L1,
                Objective::Huber => HistLoss::Huber,
                Objective::LogLoss => HistLoss::LogLoss,
            };
            hist::fit(data, &params.hist(), loss, seed)
        }
    }
}

impl Train {
    pub fn new(data: Dataset, options: TrainOptions) -> Self {
        Train {
            data,
            options,
            progress: None,
            fold_progress: None,
        }
    }

    /// Called as each cross-validation fold finishes (from the fold's thread).
    pub fn with_fold_progress(mut self, f: impl Fn(FoldDone) + Send + Sync + 'static) -> Self {
        self.fold_progress = Some(Box::new(f));
        self
    }

    /// Called with each candidate's run records as soon as its CV finishes.
    pub fn with_progress(mut self, f: impl Fn(&[RunRecord]) + Send + Sync + 'static) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    pub fn run(self) -> Result<TrainOutcome, MlError> {
        let o = &self.options;
        let data = &self.data;
        let objective = o.objective();
        let metric = o.metric();
        let k = o.cv_folds;
        let n = data.n_rows();
        if n < 2 || (k > 0 && n < 2 * k) {
            return Err(MlError::InvalidInput(format!(
                "{n} training rows are too few{}. Help: use more rows{}",
                if k > 0 {
                    format!(" for {k}-fold cross-validation")
                } else {
                    String::new()
                },
                if k > 0 { " or lower cv_folds" } else { "" }
            )));
        }
        let candidates = match (&o.search, o.algorithm, &o.ensemble) {
            (Some(s), _, _) => search::sample(&o.params, &s.space, s.trials, o.seed)?,
            (None, Algorithm::Ensemble, Some(members)) => members
                .iter()
                .map(|m| member(&o.params, m))
                .collect::<Result<Vec<_>, MlError>>()?,
            (None, Algorithm::Ensemble, None) => default_members(&o.params),
            (None, Algorithm::Gbdt | Algorithm::Hist, _) => vec![o.params.clone()],
        };
        if candidates.is_empty() {
            return Err(MlError::InvalidOption(
                "an ensemble needs at least one member".into(),
            ));
        }
        let role = if o.algorithm == Algorithm::Ensemble && o.search.is_none() {
            "member"
        } else {
            "trial"
        };
        let fold_of = if k > 0 {
            cv::assign_folds(n, k, o.seed)
        } else {
            Vec::new()
        };
        let mut runs = Vec::new();

        // Score every candidate by CV.
        let mut scored: Vec<(Params, CvResult)> = Vec::new();
        if k > 0 {
            for (i, params) in candidates.iter().enumerate() {
                let fit = |d: &Dataset| fit(d, params, objective, o.seed);
                let start = Instant::now();
                let done = std::sync::atomic::AtomicUsize::new(0);
                let on_fold = |f: &cv::FoldScore| {
                    let done = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    if let Some(p) = &self.fold_progress {
                        p(FoldDone {
                            trial: i,
                            trials: candidates.len(),
                            done,
                            folds: k,
                            metric,
                            score: f.score,
                        });
                    }
                };
                let result = cv::cross_validate(data, &fold_of, k, metric, &fit, &on_fold)?;
                let mut records: Vec<RunRecord> = result
                    .folds
                    .iter()
                    .map(|f| RunRecord {
                        trial: i,
                        fold: Some(f.fold),
                        role,
                        params: params.clone(),
                        metric,
                        score: f.score,
                        duration_ms: f.duration_ms,
                    })
                    .collect();
                records.push(RunRecord {
                    trial: i,
                    fold: None,
                    role,
                    params: params.clone(),
                    metric,
                    score: result.mean(),
                    duration_ms: start.elapsed().as_millis() as u64,
                });
                if let Some(p) = &self.progress {
                    p(&records);
                }
                runs.extend(records);
                scored.push((params.clone(), result));
            }
        }

        // Pick the model: the best candidate, or weighted members.
        let (members, weights, cv_scores, oof_raw): (
            Vec<Params>,
            Vec<f64>,
            Vec<f64>,
            Option<Vec<f64>>,
        ) = if k == 0 {
            (candidates.clone(), vec![1.0], Vec::new(), None)
        } else if o.algorithm == Algorithm::Ensemble {
            let mut chosen: Vec<&(Params, CvResult)> = scored.iter().collect();
            if o.search.is_some() {
                chosen.sort_by(|a, b| rank(metric, a.1.mean(), b.1.mean()));
                chosen.truncate(3);
            }
            let oofs: Vec<Vec<f64>> = chosen.iter().map(|(_, r)| r.oof_raw.clone()).collect();
            let w = fit_weights(&oofs, &data.target, o.task);
            let combined: Vec<f64> = (0..n)
                .map(|r| oofs.iter().zip(&w).map(|(v, w)| v[r] * w).sum())
                .collect();
            let scores = fold_scores(&combined, &data.target, &fold_of, k, metric, o.task);
            (
                chosen.iter().map(|(p, _)| p.clone()).collect(),
                w,
                scores,
                Some(combined),
            )
        } else {
            let best = scored
                .iter()
                .min_by(|a, b| rank(metric, a.1.mean(), b.1.mean()))
                .ok_or_else(|| MlError::InvalidInput("no candidate was scored".into()))?;
            let scores = best.1.folds.iter().map(|f| f.score).collect();
            (
                vec![best.0.clone()],
                vec![1.0],
                scores,
                Some(best.1.oof_raw.clone()),
            )
        };

        let baseline = baseline_score(data, &fold_of, k, metric, objective, o.task);
        if k > 0 {
            runs.push(RunRecord {
                trial: candidates.len(),
                fold: None,
                role: "baseline",
                params: Params::default(),
                metric,
                score: baseline,
                duration_ms: 0,
            });
        }

        // Refit the chosen members on every row and combine them.
        let mut parts = Vec::new();
        for (p, w) in members.iter().zip(&weights) {
            if *w > 1e-6 {
                parts.push(fit(data, p, objective, o.seed)?.scaled(*w));
            }
        }
        let forest = if parts.len() == 1 {
            parts.pop().unwrap_or_else(|| unreachable!())
        } else {
            Forest::concat(&parts)?
        };

        let columns = data.column_refs();
        let mut in_sample = vec![0.0; n];
        forest.predict(&columns, &mut in_sample);
        let train_score = metric.compute(&data.target, &in_sample);
        let (cv_mean, cv_std) = if cv_scores.is_empty() {
            (None, None)
        } else {
            let (m, s) = cv::mean_std(cv_scores.iter().copied());
            (Some(m), Some(s))
        };
        let gain = forest.gain_importance();
        let segments = match &oof_raw {
            Some(raw) => {
                let model: Vec<f64> = raw.iter().map(|r| link(o.task, *r)).collect();
                let baseline = baseline_oof(data, &fold_of, k, metric, objective);
                segments::top_segments(
                    &data.feature_names,
                    &data.columns,
                    &gain,
                    &data.target,
                    &model,
                    &baseline,
                    metric,
                )
            }
            None => Vec::new(),
        };
        let conformal = match (o.task, &oof_raw) {
            (Task::Regression, Some(raw)) => Conformal::from_residuals(
                raw.iter()
                    .zip(&data.target)
                    .map(|(r, y)| (y - r).abs())
                    .collect(),
            ),
            _ => None,
        };
        let params = if members.len() == 1 {
            serde_json::to_value(&members[0])
        } else {
            serde_json::to_value(
                members
                    .iter()
                    .zip(&weights)
                    .map(|(p, w)| serde_json::json!({"params": p, "weight": w}))
                    .collect::<Vec<_>>(),
            )
        }
        .map_err(|e| MlError::InvalidModel(e.to_string()))?;
        let improvement = metric.improvement(cv_mean.unwrap_or(train_score), baseline);
        Ok(TrainOutcome {
            gain,
            mean_abs_shap: mean_abs_shap(&forest, data),
            artifact: ModelArtifact {
                task: o.task,
                objective: objective_name(objective).to_string(),
                conformal,
                reference: references(data),
                segments,
                forest,
            },
            algorithm: o.algorithm,
            params,
            metric,
            cv_mean,
            cv_std,
            baseline,
            improvement,
            train_score,
            rows: n,
            runs,
        })
    }
}

pub fn objective_name(o: Objective) -> &'static str {
    match o {
        Objective::SquaredError => "squared_error",
        Objective::AbsoluteError => "absolute_error",
        Objective::Huber => "huber",
        Objective::LogLoss => "log_loss",
    }
}

/// An ensemble member: the base parameters with the member's keys on top.
fn member(
    base: &Params,
    overrides: &serde_json::Map<String, serde_json::Value>,
) -> Result<Params, MlError> {
    let mut merged = match serde_json::to_value(base) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => {
            return Err(MlError::InvalidOption(
                "cannot read the base parameters".into(),
            ));
        }
    };
    for (k, v) in overrides {
        merged.insert(k.clone(), v.clone());
    }
    let p: Params = serde_json::from_value(serde_json::Value::Object(merged)).map_err(|e| {
        MlError::InvalidOption(format!(
            "ensemble member {}: {e}",
            serde_json::Value::Object(overrides.clone())
        ))
    })?;
    p.validate()?;
    Ok(p)
}

/// Orders scores best first.
fn rank(metric: Metric, a: f64, b: f64) -> std::cmp::Ordering {
    if metric.higher_is_better() {
        b.total_cmp(&a)
    } else {
        a.total_cmp(&b)
    }
}

fn link(task: Task, raw: f64) -> f64 {
    match task {
        Task::Regression => raw,
        Task::Classification => 1.0 / (1.0 + (-raw).exp()),
    }
}

fn fold_scores(
    raw: &[f64],
    y: &[f64],
    fold_of: &[usize],
    k: usize,
    metric: Metric,
    task: Task,
) -> Vec<f64> {
    (0..k)
        .map(|f| {
            let (_, valid) = cv::split(fold_of, f);
            let yv: Vec<f64> = valid.iter().map(|&r| y[r]).collect();
            let pv: Vec<f64> = valid.iter().map(|&r| link(task, raw[r])).collect();
            metric.compute(&yv, &pv)
        })
        .collect()
}

/// The constant predictor: the training rows' mean (median for absolute
/// error), or the share of class 1 for classifiers.
fn baseline_score(
    data: &Dataset,
    fold_of: &[usize],
    k: usize,
    metric: Metric,
    objective: Objective,
    task: Task,
) -> f64 {
    let constant = |rows: &[usize]| constant(data, rows, metric, objective);
    let all: Vec<usize> = (0..data.n_rows()).collect();
    let score = |train: &[usize], valid: &[usize]| {
        let c = constant(train);
        let y: Vec<f64> = valid.iter().map(|&r| data.target[r]).collect();
        metric.compute(&y, &vec![c; y.len()])
    };
    let _ = task;
    if k == 0 {
        return score(&all, &all);
    }
    let scores: Vec<f64> = (0..k)
        .map(|f| {
            let (train, valid) = cv::split(fold_of, f);
            score(&train, &valid)
        })
        .collect();
    cv::mean_std(scores.into_iter()).0
}

/// The constant predictor fitted on `rows`: their mean target (median for
/// absolute error), or the share of class 1 for classifiers.
fn constant(data: &Dataset, rows: &[usize], metric: Metric, objective: Objective) -> f64 {
    let mut v: Vec<f64> = rows.iter().map(|&r| data.target[r]).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    if objective == Objective::AbsoluteError || metric == Metric::Mae {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// The baseline's out-of-fold prediction of every row: the constant of the
/// other folds' rows.
fn baseline_oof(
    data: &Dataset,
    fold_of: &[usize],
    k: usize,
    metric: Metric,
    objective: Objective,
) -> Vec<f64> {
    let mut out = vec![f64::NAN; data.n_rows()];
    for f in 0..k {
        let (train, valid) = cv::split(fold_of, f);
        let c = constant(data, &train, metric, objective);
        for r in valid {
            out[r] = c;
        }
    }
    out
}

/// Mean |SHAP| per feature over up to 256 evenly spaced training rows,
/// split across the cores (TreeSHAP costs about a millisecond per row for
/// a few hundred trees, so more rows would dominate a fast training).
fn mean_abs_shap(forest: &Forest, data: &Dataset) -> Vec<f64> {
    let n = data.n_rows();
    let take = n.min(256);
    let m = data.n_features();
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .clamp(1, 8);
    let chunk = take.div_ceil(threads).max(1);
    let partial = |start: usize, end: usize| {
        let mut scratch = ShapScratch::new(forest);
        let mut phi = vec![0.0; m];
        let mut total = vec![0.0; m];
        let mut row = vec![0.0; m];
        for i in start..end {
            let r = i * n / take;
            for (f, c) in data.columns.iter().enumerate() {
                row[f] = c[r];
            }
            explain_row(forest, &row, &mut phi, &mut scratch);
            for (t, p) in total.iter_mut().zip(&phi) {
                *t += p.abs();
            }
        }
        total
    };
    let parts: Vec<Vec<f64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let partial = &partial;
                s.spawn(move || partial((t * chunk).min(take), ((t + 1) * chunk).min(take)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    // summed in thread order: the same result for the same thread count
    (0..m)
        .map(|f| parts.iter().map(|p| p[f]).sum::<f64>() / take.max(1) as f64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn synthetic(n: usize, seed: u64, classify: bool) -> Dataset {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let cols: Vec<Vec<f64>> = (0..4)
            .map(|_| (0..n).map(|_| rng.random_range(-2.0..2.0)).collect())
            .collect();
        let target = (0..n)
            .map(|r| {
                let v = 3.0 * cols[0][r] + cols[1][r].powi(2) - cols[2][r]
                    + rng.random_range(-0.5..0.5);
                if classify { f64::from(v > 1.0) } else { v }
            })
            .collect();
        Dataset {
            feature_names: (0..4).map(|i| format!("x{i}")).collect(),
            columns: cols,
            target,
        }
    }

    #[test]
    fn beats_the_baseline_and_is_reproducible() {
        let data = synthetic(600, 1, false);
        let opts =
            TrainOptions::parse(r#"{"cv_folds": 3, "n_estimators": 40, "max_depth": 3}"#).unwrap();
        let a = Train::new(data.clone(), opts.clone()).run().unwrap();
        let b = Train::new(data, opts).run().unwrap();
        assert_eq!(a.artifact, b.artifact);
        let cv = a.cv_mean.unwrap();
        assert!(cv < 0.5 * a.baseline, "cv {cv} baseline {}", a.baseline);
        assert!(a.improvement > 0.5);
        assert_eq!(a.runs.iter().filter(|r| r.fold.is_some()).count(), 3);
        // x3 is noise: it matters least
        assert!(a.mean_abs_shap[3] < a.mean_abs_shap[0]);
    }

    /// Errors by segment are out of fold: the slices of each of the three
    /// most important features (x0, x1, x2 — x3 is noise) hold every row
    /// once, the model beats the baseline in each, and their squared errors
    /// add up to the out-of-fold MSE. Without folds there are none.
    #[test]
    fn errors_by_segment_are_out_of_fold() {
        let data = synthetic(800, 4, false);
        let opts =
            TrainOptions::parse(r#"{"cv_folds": 4, "n_estimators": 40, "max_depth": 3}"#).unwrap();
        let out = Train::new(data.clone(), opts).run().unwrap();
        let segments = &out.artifact.segments;
        let mut features: Vec<&str> = segments.iter().map(|s| s.feature.as_str()).collect();
        features.dedup();
        features.sort();
        assert_eq!(features, ["x0", "x1", "x2"], "{segments:?}");
        let mut sums = Vec::new();
        for f in ["x0", "x1", "x2"] {
            let of: Vec<_> = segments.iter().filter(|s| s.feature == f).collect();
            assert_eq!(of.iter().map(|s| s.rows).sum::<usize>(), 800);
            for s in &of {
                assert!(s.score.unwrap() < s.baseline.unwrap(), "{s:?}");
            }
            let sse: f64 = of
                .iter()
                .map(|s| s.rows as f64 * s.score.unwrap().powi(2))
                .sum();
            sums.push(sse / 800.0);
        }
        // The same rows and predictions, sliced three ways: the same total.
        for w in sums.windows(2) {
            assert!((w[0] - w[1]).abs() < 1e-9 * w[0].max(1.0), "{sums:?}");
        }
        // Out of fold, so worse than in-sample.
        assert!(
            sums[0].sqrt() > out.train_score,
            "{sums:?} vs {}",
            out.train_score
        );
        let none = Train::new(
            data,
            TrainOptions::parse(r#"{"cv_folds": 0, "n_estimators": 10}"#).unwrap(),
        )
        .run()
        .unwrap();
        assert!(none.artifact.segments.is_empty());
    }

    /// Property: conformal intervals from OOF residuals cover unseen rows
    /// at about the stated level.
    #[test]
    fn intervals_cover_held_out_rows() {
        let data = synthetic(3000, 2, false);
        let test = synthetic(3000, 99, false);
        let opts =
            TrainOptions::parse(r#"{"cv_folds": 5, "n_estimators": 60, "max_depth": 4}"#).unwrap();
        let out = Train::new(data, opts).run().unwrap();
        let c = out.artifact.conformal.as_ref().unwrap();
        let mut pred = vec![0.0; test.n_rows()];
        out.artifact.forest.predict(&test.column_refs(), &mut pred);
        for level in [0.8, 0.9] {
            let q = c.half_width(level).unwrap();
            let covered = pred
                .iter()
                .zip(&test.target)
                .filter(|(p, y)| (*p - *y).abs() <= q)
                .count() as f64
                / test.n_rows() as f64;
            // Residuals of fold models (trained on 80 % of the rows) are a
            // little larger than the final model's, so coverage errs high.
            assert!(
                covered > level - 0.02 && covered < level + 0.06,
                "level {level}: covered {covered}"
            );
        }
    }

    #[test]
    fn classification_search_and_ensemble() {
        let data = synthetic(500, 3, true);
        let opts = TrainOptions::parse(
            r#"{"task": "classification", "cv_folds": 3, "algorithm": "ensemble", "n_estimators": 20, "search": {"trials": 4, "space": {"max_depth": [2, 4]}}}"#,
        )
        .unwrap();
        let out = Train::new(data.clone(), opts).run().unwrap();
        assert!(out.cv_mean.unwrap() < out.baseline);
        assert_eq!(
            out.runs
                .iter()
                .filter(|r| r.fold.is_none() && r.role == "trial")
                .count(),
            4
        );
        let mut p = vec![0.0; data.n_rows()];
        out.artifact.forest.predict(&data.column_refs(), &mut p);
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(out.artifact.conformal.is_none());
    }
}
