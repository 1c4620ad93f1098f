//! Monitoring through the real server: drift_score equals a PSI computed
//! here on the reference's own bins (whole table and per group), no shift
//! is `ok` and a one-standard-deviation shift is `alert`, the errors say
//! what is wrong, and model_performance equals a hand computation over
//! predictions logged by the REST shim.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Server, describe_error, query_text};

const SETUP: &str = "
CREATE TABLE d AS
SELECT value AS id,
       CAST(value * 37 % 101 AS DOUBLE) / 10.0 AS x1,
       CAST(value * 53 % 97 AS DOUBLE) / 10.0 AS x2,
       CASE WHEN value % 10 = 0 THEN NULL ELSE CAST(value * 29 % 89 AS DOUBLE) END AS x3,
       'c' || CAST(value % 3 AS VARCHAR) AS label
FROM generate_series(1, 3000);
CREATE VIEW rows AS
SELECT id, x1, x2, x3, label, 3 * x1 + x2 * x2 / 5 + COALESCE(x3, 50) / 10 AS y FROM d;
";

const TRAIN: &str = "SELECT version FROM train('m', 'SELECT id, x1, x2, x3, y FROM rows', 'y', \
                     '{\"id_columns\": [\"id\"], \"cv_folds\": 0, \"n_estimators\": 20}')";

/// The reference of `feature` from the stored artifact: (edges, fractions, null_fraction, std).
async fn reference(c: &tokio_postgres::Client, feature: &str) -> (Vec<f64>, Vec<f64>, f64, f64) {
    let rows = query_text(
        c,
        "SELECT artifact FROM voidx.model_artifacts WHERE model = 'm' AND version = 1",
    )
    .await;
    let artifact: Value = serde_json::from_str(&rows[0][0]).expect("artifact JSON");
    let r = artifact["reference"]
        .as_array()
        .expect("references")
        .iter()
        .find(|r| r["feature"] == feature)
        .expect("feature reference");
    let floats = |v: &Value| -> Vec<f64> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|x| x.as_f64().expect("number"))
            .collect()
    };
    (
        floats(&r["edges"]),
        floats(&r["fractions"]),
        r["null_fraction"].as_f64().expect("null_fraction"),
        r["std"].as_f64().expect("std"),
    )
}

/// PSI written out plainly: bins by counting edges ≤ x, NULL bin last,
/// shares clamped to 1e-4.
fn plain_psi(edges: &[f64], fractions: &[f64], null_fraction: f64, values: &[Option<f64>]) -> f64 {
    let mut counts = vec![0.0; edges.len() + 2];
    for v in values {
        match v {
            Some(x) => counts[edges.iter().filter(|e| **e <= *x).count()] += 1.0,
            None => counts[edges.len() + 1] += 1.0,
        }
    }
    let mut expected: Vec<f64> = fractions
        .iter()
        .map(|f| f * (1.0 - null_fraction))
        .collect();
    expected.push(null_fraction);
    let n = values.len() as f64;
    counts
        .iter()
        .zip(&expected)
        .map(|(c, e)| {
            let (a, e) = ((c / n).max(1e-4), e.max(1e-4));
            (a - e) * (a / e).ln()
        })
        .sum()
}

fn floats(rows: &[Vec<String>], column: usize) -> Vec<Option<f64>> {
    rows.iter().map(|r| r[column].parse::<f64>().ok()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_score_and_report() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let c = server.client().await;
    c.batch_execute(SETUP)
        .await
        .unwrap_or_else(|e| panic!("{}", describe_error(&e)));
    assert_eq!(query_text(&c, TRAIN).await, vec![vec!["1"]]);

    // The training data against itself: PSI 0, every feature ok.
    let same = query_text(
        &c,
        "SELECT drift_score('m', 'x1', x1), drift_score('m', 'x3', x3) FROM rows",
    )
    .await;
    for v in &same[0] {
        assert!(v.parse::<f64>().expect("psi").abs() < 1e-9, "{same:?}");
    }
    let report = query_text(
        &c,
        "SELECT feature, rows, psi < 1e-9, ks_statistic < 0.02, ks_p_value > 0.5, status FROM drift_report('m', 'SELECT * FROM rows') ORDER BY feature",
    )
    .await;
    assert_eq!(
        report,
        vec![
            vec!["x1", "3000", "t", "t", "t", "ok"],
            vec!["x2", "3000", "t", "t", "t", "ok"],
            vec!["x3", "3000", "t", "t", "t", "ok"],
        ]
    );

    // A shifted, partly NULL sample: drift_score equals the plain PSI on the same bins.
    let (edges, fractions, nulls, std) = reference(&c, "x1").await;
    let sample = "SELECT id, CASE WHEN id % 7 = 0 THEN NULL ELSE x1 * 1.1 + 0.3 END AS v FROM rows WHERE id % 2 = 0";
    let values = query_text(&c, &format!("SELECT id % 3, v FROM ({sample}) s")).await;
    let got = query_text(
        &c,
        &format!("SELECT drift_score('m', 'x1', v) FROM ({sample}) s"),
    )
    .await;
    let want = plain_psi(&edges, &fractions, nulls, &floats(&values, 1));
    let got: f64 = got[0][0].parse().expect("psi");
    assert!((got - want).abs() < 1e-9, "SQL {got} vs plain {want}");
    assert!(got > 0.01);

    // GROUP BY: one PSI per group, each equal to the plain PSI of its rows.
    let groups = query_text(
        &c,
        &format!(
            "SELECT id % 3 AS g, drift_score('m', 'x1', v) FROM ({sample}) s GROUP BY g ORDER BY g"
        ),
    )
    .await;
    assert_eq!(groups.len(), 3);
    for g in &groups {
        let rows: Vec<Option<f64>> = values
            .iter()
            .filter(|r| r[0] == g[0])
            .map(|r| r[1].parse::<f64>().ok())
            .collect();
        let want = plain_psi(&edges, &fractions, nulls, &rows);
        let got: f64 = g[1].parse().expect("psi");
        assert!(
            (got - want).abs() < 1e-9,
            "group {}: SQL {got} vs plain {want}",
            g[0]
        );
    }

    // One reference standard deviation up: alert, the shift measured as 1.
    let shifted = format!("SELECT x1 + {std} AS x1, x2, x3 FROM rows");
    let report = query_text(
        &c,
        &format!(
            "SELECT feature, status, abs(mean_shift_std - 1) < 1e-9, ks_p_value < 1e-6 FROM drift_report('m', '{shifted}') ORDER BY feature"
        ),
    )
    .await;
    assert_eq!(report[0], vec!["x1", "alert", "t", "t"]);
    assert_eq!(report[1][1], "ok");
    // thresholds from the options
    let relaxed = query_text(
        &c,
        &format!("SELECT status FROM drift_report('m', '{shifted}', '{{\"psi_warn\": 50, \"psi_alert\": 100}}') WHERE feature = 'x1'"),
    )
    .await;
    assert_eq!(relaxed, vec![vec!["ok"]]);

    // Errors say what is wrong.
    for (sql, code, text) in [
        (
            "SELECT drift_score('nope', 'x1', x1) FROM rows",
            "42704",
            "does not exist",
        ),
        (
            "SELECT drift_score('m', 'zz', x1) FROM rows",
            "22023",
            "its features are",
        ),
        (
            "SELECT drift_score('m', 'x1', label) FROM rows",
            "22023",
            "numeric",
        ),
        (
            "SELECT * FROM drift_report('nope', 'SELECT 1')",
            "42704",
            "does not exist",
        ),
        (
            "SELECT * FROM drift_report('m', 'SELECT x1, x2 FROM rows')",
            "22023",
            "no column 'x3'",
        ),
        (
            "SELECT * FROM drift_report('m', 'SELECT x1, x2, label AS x3 FROM rows')",
            "22023",
            "numeric",
        ),
        (
            "SELECT * FROM drift_report('m', 'SELECT * FROM rows', '{\"psi_warn\": 1, \"psi_alert\": 0.5}')",
            "22023",
            "above psi_alert",
        ),
    ] {
        let e = c.simple_query(sql).await.expect_err(sql);
        let d = describe_error(&e);
        assert!(d.starts_with(code) && d.contains(text), "{sql}: {d}");
        assert!(d.contains("hint"), "{sql}: {d}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_performance_equals_a_hand_computation() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let c = server.client().await;
    c.batch_execute(SETUP)
        .await
        .unwrap_or_else(|e| panic!("{}", describe_error(&e)));
    let train = |options: &str| {
        format!("SELECT version FROM train('r', 'SELECT x1, x2, y FROM rows', 'y', '{options}')")
    };
    query_text(&c, &train("{\"cv_folds\": 0, \"n_estimators\": 20}")).await;
    query_text(
        &c,
        &train("{\"cv_folds\": 0, \"n_estimators\": 3, \"deploy\": \"never\"}"),
    )
    .await;
    query_text(&c, r#"SELECT * FROM ab_split('r', '{"1": 0.5, "2": 0.5}')"#).await;

    // 40 customers through the REST shim; each lands on version 1 or 2.
    let http = reqwest::Client::new();
    let rows: Vec<Value> = (0..40)
        .map(|i| json!({"customer_id": format!("c{i}"), "features": {"x1": i % 10, "x2": i % 7}}))
        .collect();
    let answer = http
        .post(format!(
            "http://127.0.0.1:{}/v1/models/r/predict",
            server.http_port
        ))
        .header("content-type", "application/json")
        .body(Value::Array(rows).to_string())
        .send()
        .await
        .expect("POST")
        .text()
        .await
        .expect("body");
    let answer: Value = serde_json::from_str(&answer).expect("JSON");
    // actual = 10 + i, so every error is known here
    let mut by_version: std::collections::BTreeMap<String, (Vec<f64>, Vec<f64>)> =
        Default::default();
    for (i, r) in answer.as_array().expect("rows").iter().enumerate() {
        let v = r["model_version"].as_str().expect("version").to_string();
        let e = by_version.entry(v).or_default();
        e.0.push(10.0 + i as f64);
        e.1.push(r["prediction"].as_f64().expect("prediction"));
    }
    assert_eq!(by_version.len(), 2, "both versions served: {answer}");
    // the log is written in the background
    for _ in 0..100 {
        let n = query_text(&c, "SELECT count(*) FROM voidx.predictions").await;
        if n[0][0] == "40" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let actuals = "SELECT ''c'' || CAST(value AS VARCHAR) AS cust, 10 + value AS revenue FROM generate_series(0, 39)";
    let out = query_text(
        &c,
        &format!(
            "SELECT scope, version, rows, rmse, mae, mape, auc, compared_to, metric, difference, ci_lower <= difference AND difference <= ci_upper \
             FROM model_performance('r', '{actuals}', '{{\"key\": \"cust\", \"label\": \"revenue\", \"bootstrap\": 300}}') \
             WHERE scope <> 'period' ORDER BY scope DESC, version"
        ),
    )
    .await;
    let rmse = |(y, p): &(Vec<f64>, Vec<f64>)| {
        (y.iter().zip(p).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / y.len() as f64).sqrt()
    };
    let mae = |(y, p): &(Vec<f64>, Vec<f64>)| {
        y.iter().zip(p).map(|(a, b)| (a - b).abs()).sum::<f64>() / y.len() as f64
    };
    let mape = |(y, p): &(Vec<f64>, Vec<f64>)| {
        y.iter()
            .zip(p)
            .map(|(a, b)| ((a - b) / a).abs())
            .sum::<f64>()
            / y.len() as f64
    };
    let close = |text: &str, want: f64| {
        let got: f64 = text.parse().expect("number");
        assert!(
            (got - want).abs() < 1e-9 * want.abs().max(1.0),
            "{got} vs {want}"
        );
    };
    assert_eq!(out.len(), 3, "{out:?}");
    for (row, (v, pairs)) in out[..2].iter().zip(&by_version) {
        assert_eq!((row[0].as_str(), &row[1]), ("version", v));
        assert_eq!(row[2], pairs.0.len().to_string());
        close(&row[3], rmse(pairs));
        close(&row[4], mae(pairs));
        close(&row[5], mape(pairs));
        assert_eq!(row[6], "NULL", "no auc for a regression model");
    }
    let ab = &out[2];
    assert_eq!(
        (
            ab[0].as_str(),
            ab[1].as_str(),
            ab[7].as_str(),
            ab[8].as_str()
        ),
        ("ab", "2", "1", "rmse")
    );
    close(&ab[9], rmse(&by_version["2"]) - rmse(&by_version["1"]));
    assert_eq!(
        ab[10], "t",
        "the interval holds the observed difference: {ab:?}"
    );

    // one period (all today), rows per version add up
    let periods = query_text(
        &c,
        &format!("SELECT sum(rows), count(DISTINCT period) FROM model_performance('r', '{actuals}', '{{\"key\": \"cust\", \"label\": \"revenue\", \"period\": \"week\"}}') WHERE scope = 'period'"),
    )
    .await;
    assert_eq!(periods, vec![vec!["40", "1"]]);
    // each period is the start of a logged day (it once came out ×1000, in
    // the year 58888), and from/to bounds compare as times
    let options = "{\"key\": \"cust\", \"label\": \"revenue\", \"from\": \"2000-01-01\", \"to\": \"2100-01-01\"}";
    let within = query_text(
        &c,
        &format!(
            "SELECT sum(rows), count(*), sum(CASE WHEN period <= (SELECT max(ts) FROM voidx.predictions) \
             AND period > (SELECT min(ts) FROM voidx.predictions) - INTERVAL '1 day' THEN 1 ELSE 0 END) \
             FROM model_performance('r', '{actuals}', '{options}') WHERE scope = 'period'"
        ),
    )
    .await;
    assert_eq!(within[0][0], "40", "{within:?}");
    assert_eq!(
        within[0][1], within[0][2],
        "periods outside the log: {within:?}"
    );
    for (sql, code) in [
        (
            "SELECT * FROM model_performance('nope', 'SELECT 1', '{\"label\": \"y\"}')",
            "42704",
        ),
        (
            "SELECT * FROM model_performance('r', 'SELECT 1', '{}')",
            "22023",
        ),
    ] {
        let e = c.simple_query(sql).await.expect_err(sql);
        let d = describe_error(&e);
        assert!(d.starts_with(code) && d.contains("hint"), "{sql}: {d}");
    }
}
