//! Tests of the histogram trainer as a whole. The synthetic data generator
//! is written identically in `udfs/tests/fixtures/hist/make.py`, so the
//! LightGBM numbers in `lightgbm.json` are for exactly these rows.

use super::*;
use crate::ml::forest::Link;
use crate::ml::shap::{ShapScratch, explain_row};

/// SplitMix64 of `seed + (i + 1) * golden`, top 53 bits as a float in [0, 1).
fn uniform(seed: u64, i: u64) -> f64 {
    let mut z = seed.wrapping_add((i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 * (2.0f64).powi(-53)
}

/// `n × m` uniform features; feature 3 is missing in ~10% of rows, and its
/// missingness carries signal. Only + and × on floats: bit-identical to numpy.
pub(crate) fn synth(n: usize, m: usize, seed: u64) -> Dataset {
    assert!(m >= 8);
    let mut columns = vec![vec![0.0; n]; m];
    for r in 0..n {
        for (f, col) in columns.iter_mut().enumerate() {
            col[r] = uniform(seed, (r * m + f) as u64);
        }
    }
    let mut target = vec![0.0; n];
    for (r, t) in target.iter_mut().enumerate() {
        let x = |f: usize| columns[f][r];
        let missing = uniform(seed + 1, r as u64) < 0.1;
        let e = |k: u64| uniform(seed + 2, 3 * r as u64 + k);
        let noise = e(0) + e(1) + e(2) - 1.5;
        let x3 = if missing { 1.5 } else { 3.0 * x(3) * x(3) };
        let step = if x(2) > 0.5 { 5.0 } else { 0.0 };
        *t = 10.0 * x(0) * x(1) + step + x3 - 4.0 * x(4) + 2.0 * x(5) * x(6) * x(7) + noise;
        if missing {
            columns[3][r] = f64::NAN;
        }
    }
    Dataset {
        feature_names: (0..m).map(|f| format!("x{f}")).collect(),
        columns,
        target,
    }
}

fn split_at(data: &Dataset, n_train: usize) -> (Dataset, Dataset) {
    let n = data.n_rows();
    (
        data.subset(&(0..n_train).collect::<Vec<_>>()),
        data.subset(&(n_train..n).collect::<Vec<_>>()),
    )
}

fn predict(forest: &Forest, data: &Dataset) -> Vec<f64> {
    let mut out = vec![0.0; data.n_rows()];
    forest.predict(&data.column_refs(), &mut out);
    out
}

fn rmse(a: &[f64], b: &[f64]) -> f64 {
    (a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64).sqrt()
}

fn log_loss(y: &[f64], p: &[f64]) -> f64 {
    let l: f64 = y
        .iter()
        .zip(p)
        .map(|(&y, &p)| {
            let p = p.clamp(1e-15, 1.0 - 1e-15);
            -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
        })
        .sum();
    l / y.len() as f64
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
        .install(f)
}

#[test]
fn params_parse_with_defaults_and_validate() {
    let p: HistParams =
        serde_json::from_str(r#"{"growth": "depthwise", "num_leaves": 8}"#).unwrap();
    assert_eq!(
        (p.growth, p.num_leaves, p.max_bin),
        (Growth::Depthwise, 8, 255)
    );
    assert_eq!(p.tree_params().max_depth, Some(6));
    assert_eq!(HistParams::default().tree_params().max_depth, None);
    assert!(serde_json::from_str::<HistParams>(r#"{"colour": 1}"#).is_err());
    for (json, needle) in [
        (r#"{"max_bin": 256}"#, "max_bin"),
        (r#"{"num_leaves": 1}"#, "num_leaves"),
        (r#"{"max_depth": 0}"#, "max_depth"),
        (r#"{"growth": "depthwise", "max_depth": 40}"#, "max_depth"),
        (r#"{"bagging_fraction": 0.0}"#, "bagging_fraction"),
        (r#"{"lambda_l2": -1.0}"#, "lambda_l2"),
        (r#"{"early_stopping_rounds": 0}"#, "early_stopping"),
        (r#"{"huber_delta": 0.0}"#, "huber_delta"),
    ] {
        let p: HistParams = serde_json::from_str(json).unwrap();
        let e = p.validate().unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
    }
}

#[test]
fn bad_inputs_are_refused_with_messages() {
    let mut d = synth(50, 8, 1);
    d.columns[2].pop();
    let e = fit(&d, &HistParams::default(), HistLoss::L2, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"x2\" has 49 values"), "{e}");
    let d = synth(50, 8, 1);
    let e = fit(&d, &HistParams::default(), HistLoss::LogLoss, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("labels 0 and 1"), "{e}");
    let tiny = d.subset(&[0, 1, 2]);
    let p = HistParams {
        early_stopping_rounds: Some(5),
        ..HistParams::default()
    };
    let e = fit(&tiny, &p, HistLoss::L2, 0).unwrap_err().to_string();
    assert!(e.contains("early stopping"), "{e}");
}

/// Same seed, same forest, whatever the thread count; another seed differs
/// once bagging and feature sampling draw from it.
#[test]
fn deterministic_for_a_seed_and_any_thread_count() {
    let data = synth(3000, 12, 5);
    let p = HistParams {
        n_estimators: 30,
        bagging_fraction: 0.7,
        feature_fraction: 0.6,
        early_stopping_rounds: Some(10),
        ..HistParams::default()
    };
    for loss in [HistLoss::L2, HistLoss::L1] {
        let one = in_pool(1, || fit(&data, &p, loss, 9).unwrap());
        let two = in_pool(2, || fit(&data, &p, loss, 9).unwrap());
        let again = in_pool(2, || fit(&data, &p, loss, 9).unwrap());
        assert_eq!(one, two);
        assert_eq!(two, again);
        assert_ne!(fit(&data, &p, loss, 10).unwrap(), one);
    }
}

/// Missing x3 means "target + 1.5 regardless of x3": only a learned missing
/// direction can place those rows; sending them with low or high x3 cannot.
#[test]
fn missing_direction_is_learned() {
    let n = 4000;
    let x: Vec<f64> = (0..n).map(|i| uniform(3, i as u64)).collect();
    let missing: Vec<bool> = (0..n).map(|i| uniform(4, i as u64) < 0.3).collect();
    let target: Vec<f64> = (0..n)
        .map(|i| if missing[i] { 0.5 } else { 4.0 * x[i] })
        .collect();
    let column = x
        .iter()
        .zip(&missing)
        .map(|(&v, &m)| if m { f64::NAN } else { v })
        .collect();
    let data = Dataset {
        feature_names: vec!["x".into()],
        columns: vec![column],
        target,
    };
    let p = HistParams {
        n_estimators: 100,
        ..HistParams::default()
    };
    let forest = fit(&data, &p, HistLoss::L2, 0).unwrap();
    let pred = predict(&forest, &data);
    for i in (0..n).filter(|&i| missing[i]) {
        assert!((pred[i] - 0.5).abs() < 0.05, "row {i}: {}", pred[i]);
    }
    let present: Vec<usize> = (0..n).filter(|&i| !missing[i]).collect();
    let want: Vec<f64> = present.iter().map(|&i| data.target[i]).collect();
    let got: Vec<f64> = present.iter().map(|&i| pred[i]).collect();
    assert!(rmse(&want, &got) < 0.1, "{}", rmse(&want, &got));
}

#[test]
fn constant_features_are_never_split() {
    let mut data = synth(1000, 8, 2);
    data.columns[0] = vec![7.0; 1000];
    data.columns[1] = vec![f64::NAN; 1000];
    let p = HistParams {
        n_estimators: 20,
        ..HistParams::default()
    };
    let forest = fit(&data, &p, HistLoss::L2, 0).unwrap();
    let imp = forest.gain_importance();
    assert_eq!((imp[0], imp[1]), (0.0, 0.0), "{imp:?}");
    // all features constant: one leaf per tree, predicting the mean
    for c in &mut data.columns {
        c.fill(1.0);
    }
    let forest = fit(&data, &p, HistLoss::L2, 0).unwrap();
    assert_eq!(forest.n_nodes(), forest.n_trees());
    let mean = data.target.iter().sum::<f64>() / 1000.0;
    assert!((forest.predict_row_raw(&[1.0; 8]) - mean).abs() < 1e-9);
}

#[test]
fn one_row_one_feature_and_tiny_leaves() {
    let one_row = Dataset {
        feature_names: vec!["a".into()],
        columns: vec![vec![1.0]],
        target: vec![3.0],
    };
    let forest = fit(&one_row, &HistParams::default(), HistLoss::L2, 0).unwrap();
    assert_eq!(forest.predict_row_raw(&[1.0]), 3.0);
    for loss in [HistLoss::L1, HistLoss::Huber] {
        assert_eq!(
            fit(&one_row, &HistParams::default(), loss, 0)
                .unwrap()
                .predict_row_raw(&[5.0]),
            3.0
        );
    }
    // one feature, leaves of one row: the training data is fit exactly
    let x: Vec<f64> = (0..64).map(f64::from).collect();
    let data = Dataset {
        feature_names: vec!["x".into()],
        target: x.iter().map(|v| (v * 0.7).sin()).collect(),
        columns: vec![x],
    };
    let p = HistParams {
        n_estimators: 200,
        learning_rate: 0.5,
        num_leaves: 64,
        min_data_in_leaf: 1,
        min_sum_hessian: 0.0,
        ..HistParams::default()
    };
    let forest = fit(&data, &p, HistLoss::L2, 0).unwrap();
    assert!(rmse(&predict(&forest, &data), &data.target) < 1e-6);
}

#[test]
fn growth_modes_respect_their_limits() {
    let data = synth(3000, 8, 3);
    let leafwise = HistParams {
        n_estimators: 10,
        num_leaves: 7,
        ..HistParams::default()
    };
    let f = fit(&data, &leafwise, HistLoss::L2, 0).unwrap();
    assert!(f.n_nodes() <= f.n_trees() * (2 * 7 - 1));
    assert!(
        f.n_nodes() > f.n_trees() * 11,
        "trees should use their leaves"
    );
    let depthwise = HistParams {
        growth: Growth::Depthwise,
        max_depth: 3,
        ..leafwise.clone()
    };
    let f = fit(&data, &depthwise, HistLoss::L2, 0).unwrap();
    assert_eq!(f.max_depth(), 3);
    let capped = HistParams {
        max_depth: 2,
        ..leafwise
    };
    assert_eq!(fit(&data, &capped, HistLoss::L2, 0).unwrap().max_depth(), 2);
}

#[test]
fn every_loss_beats_its_base_score() {
    let mut data = synth(3000, 8, 4);
    let p = HistParams {
        n_estimators: 50,
        ..HistParams::default()
    };
    for growth in [Growth::Leafwise, Growth::Depthwise] {
        let p = HistParams {
            growth,
            ..p.clone()
        };
        for loss in [HistLoss::L2, HistLoss::L1, HistLoss::Huber] {
            let forest = fit(&data, &p, loss, 0).unwrap();
            let raw = predict(&forest, &data);
            let base = vec![forest.base_score; raw.len()];
            let (before, after) = (
                loss.mean_loss(&data.target, &base, 1.0),
                loss.mean_loss(&data.target, &raw, 1.0),
            );
            assert!(
                after < 0.5 * before,
                "{loss:?} {growth:?}: {after} vs {before}"
            );
        }
        let mut binary = data.clone();
        binary.target = data.target.iter().map(|&v| f64::from(v > 4.5)).collect();
        let forest = fit(&binary, &p, HistLoss::LogLoss, 0).unwrap();
        assert_eq!(forest.link, Link::Logistic);
        let prob = predict(&forest, &binary);
        let mean = binary.target.iter().sum::<f64>() / binary.n_rows() as f64;
        assert!((forest.base_score - (mean / (1.0 - mean)).ln()).abs() < 1e-12);
        let base = log_loss(&binary.target, &vec![mean; prob.len()]);
        assert!(log_loss(&binary.target, &prob) < 0.6 * base);
    }
    // Huber ignores an outlier that drags L2
    data.target[0] = 1e6;
    let p = HistParams {
        n_estimators: 30,
        ..HistParams::default()
    };
    let huber = fit(&data, &p, HistLoss::Huber, 0).unwrap();
    let l2 = fit(&data, &p, HistLoss::L2, 0).unwrap();
    let clean = |f: &Forest| rmse(&predict(f, &data)[1..], &data.target[1..]);
    assert!(
        clean(&huber) < 0.5 * clean(&l2),
        "{} vs {}",
        clean(&huber),
        clean(&l2)
    );
}

#[test]
fn early_stopping_keeps_the_best_round() {
    let data = synth(2000, 8, 6);
    let p = HistParams {
        n_estimators: 2000,
        learning_rate: 0.3,
        num_leaves: 63,
        min_data_in_leaf: 2,
        early_stopping_rounds: Some(10),
        ..HistParams::default()
    };
    let f = fit(&data, &p, HistLoss::L2, 1).unwrap();
    assert!(f.n_trees() < 200, "{}", f.n_trees());
}

#[test]
fn shap_values_add_up_on_trained_forests() {
    let data = synth(2000, 10, 8);
    let mut binary = data.clone();
    binary.target = data.target.iter().map(|&v| f64::from(v > 4.5)).collect();
    for (d, loss) in [
        (&data, HistLoss::L2),
        (&binary, HistLoss::LogLoss),
        (&data, HistLoss::L1),
    ] {
        let p = HistParams {
            n_estimators: 20,
            bagging_fraction: 0.8,
            ..HistParams::default()
        };
        let forest = fit(d, &p, loss, 0).unwrap();
        let mut scratch = ShapScratch::new(&forest);
        let mut phi = vec![0.0; forest.n_features()];
        for r in 0..200 {
            let row: Vec<f64> = d.columns.iter().map(|c| c[r]).collect();
            explain_row(&forest, &row, &mut phi, &mut scratch);
            let total = forest.expected_raw() + phi.iter().sum::<f64>();
            let raw = forest.predict_row_raw(&row);
            assert!(
                (total - raw).abs() < 1e-9 * (1.0 + raw.abs()),
                "{loss:?} row {r}: {total} vs {raw}"
            );
        }
        // covers are row counts: every root saw the whole bag
        assert_eq!(forest.cover(0), (0.8f64 * 2000.0).round());
    }
}

/// Holdout accuracy against LightGBM 4.7 with the same hyperparameters, on
/// the same rows (`udfs/tests/fixtures/hist/make.py` wrote the numbers).
#[test]
fn accuracy_close_to_lightgbm() {
    let fixture: serde_json::Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/hist/lightgbm.json"
    )))
    .unwrap();
    let num = |v: &serde_json::Value| v.as_f64().unwrap();
    let (n_train, n_test) = (
        num(&fixture["n_train"]) as usize,
        num(&fixture["n_test"]) as usize,
    );
    let data = synth(
        n_train + n_test,
        num(&fixture["n_features"]) as usize,
        num(&fixture["seed"]) as u64,
    );
    let sum: f64 = data.target.iter().sum();
    assert!(
        (sum - num(&fixture["target_sum"])).abs() < 1e-9,
        "generators disagree: {sum}"
    );
    let params: HistParams = serde_json::from_value(fixture["params"].clone()).unwrap();
    let (train, test) = split_at(&data, n_train);

    let forest = fit(&train, &params, HistLoss::L2, 0).unwrap();
    let ours = rmse(&predict(&forest, &test), &test.target);
    let theirs = num(&fixture["l2_holdout_rmse"]);
    eprintln!("holdout rmse {ours} vs LightGBM {theirs}");
    assert!(ours <= 1.02 * theirs, "rmse {ours} vs LightGBM {theirs}");

    let binary = |d: &Dataset| Dataset {
        target: d.target.iter().map(|&v| f64::from(v > 4.5)).collect(),
        ..d.clone()
    };
    let (train, test) = (binary(&train), binary(&test));
    let forest = fit(&train, &params, HistLoss::LogLoss, 0).unwrap();
    let ours = log_loss(&test.target, &predict(&forest, &test));
    let theirs = num(&fixture["binary_holdout_logloss"]);
    eprintln!("holdout log loss {ours} vs LightGBM {theirs}");
    assert!(
        ours <= 1.05 * theirs,
        "log loss {ours} vs LightGBM {theirs}"
    );
}

/// `VmRSS` or `VmHWM` (peak) of this process, in kB.
fn rss_kb(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `cargo test --release -- --ignored hist_speed_100k --nocapture`; compare
/// with `python udfs/tests/fixtures/hist/speed.py` (same rows, LightGBM).
#[test]
#[ignore]
fn hist_speed_100k() {
    let (n_train, m) = (100_000, 50);
    let data = synth(n_train + 20_000, m, 7);
    let (train, test) = split_at(&data, n_train);
    drop(data);
    let p = HistParams {
        n_estimators: 300,
        learning_rate: 0.05,
        num_leaves: 31,
        ..HistParams::default()
    };
    let threads: usize = std::env::var("HIST_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let mut best = f64::INFINITY;
    let mut forest = None;
    let mut grew_kb = None;
    let reps: usize = std::env::var("HIST_REPS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(3);
    for rep in 0..reps {
        // Resets the peak (VmHWM) to the current RSS (Linux).
        let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let before = rss_kb("VmRSS:");
        let start = std::time::Instant::now();
        forest = Some(in_pool(threads, || {
            fit(&train, &p, HistLoss::L2, 0).unwrap()
        }));
        best = best.min(start.elapsed().as_secs_f64());
        // Only the first run: later ones reuse memory the allocator kept.
        if let (0, true, Some(a), Some(b)) = (rep, reset, before, rss_kb("VmHWM:")) {
            grew_kb = Some(b.saturating_sub(a));
        }
    }
    let forest = forest.unwrap();
    let rmse = rmse(&predict(&forest, &test), &test.target);
    let raw_f32_mb = (n_train * m * 4) as f64 / 1e6;
    println!(
        "hist_speed_100k: {threads} threads, best of {reps}: {best:.3}s, holdout rmse {rmse:.5}"
    );
    if let Some(kb) = grew_kb {
        println!(
            "peak RSS during training: +{:.1} MB over the input (raw f32 matrix: {raw_f32_mb:.1} MB)",
            kb as f64 / 1e3
        );
    }
}
