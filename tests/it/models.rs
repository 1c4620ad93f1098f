//! Models over the wire: the registry survives kill -9 (also during
//! training), SHAP values add up through SQL, and imported XGBoost/LightGBM
//! models give the libraries' own predictions and SHAP values.

use std::path::PathBuf;
use std::time::Duration;

use crate::common::{Server, describe_error, query_text};

const SETUP: &str = "
CREATE TABLE d AS
SELECT value AS id,
       CAST(value * 37 % 101 AS DOUBLE) / 10.0 AS x1,
       CAST(value * 53 % 97 AS DOUBLE) / 10.0 AS x2,
       CASE WHEN value % 10 = 0 THEN NULL ELSE CAST(value * 29 % 89 AS DOUBLE) END AS x3
FROM generate_series(1, 3000);
CREATE VIEW rows AS
SELECT id, x1, x2, x3, 3 * x1 + x2 * x2 / 5 + COALESCE(x3, 50) / 10 + CAST(id * 17 % 13 AS DOUBLE) / 13.0 AS y FROM d;
";

const TRAIN: &str = "SELECT version, stage FROM train('m', 'SELECT * FROM rows', 'y', \
                     '{\"id_columns\": [\"id\"], \"cv_folds\": 3, \"n_estimators\": 50}')";

const SCORE: &str = "SELECT id, predict('m', x1, x2, x3), shap_explain('m', x1, x2, x3) FROM rows WHERE id <= 40 ORDER BY id";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_and_models_survive_kill9() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start(&data);
    let c = server.client().await;
    c.batch_execute(SETUP)
        .await
        .unwrap_or_else(|e| panic!("{}", describe_error(&e)));
    assert_eq!(query_text(&c, TRAIN).await, vec![vec!["1", "production"]]);
    let before = query_text(&c, SCORE).await;
    let models = query_text(&c, "SELECT * FROM voidx.models").await;
    server.kill9();

    let server = Server::start(&data);
    let c = server.client().await;
    assert_eq!(query_text(&c, "SELECT * FROM voidx.models").await, models);
    assert_eq!(
        query_text(&c, SCORE).await,
        before,
        "predictions changed across a restart"
    );
}

/// kill -9 in the middle of a training: no version appears, the server
/// starts, and the next training takes a fresh version number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_training_registers_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start(&data);
    let c = server.client().await;
    c.batch_execute(SETUP)
        .await
        .unwrap_or_else(|e| panic!("{}", describe_error(&e)));
    let conn = server.conn_string();
    let long = tokio::spawn(async move {
        let c = crate::common::connect(&conn).await.unwrap();
        c.simple_query(
            "SELECT * FROM train('m', 'SELECT * FROM rows', 'y', \
             '{\"id_columns\": [\"id\"], \"cv_folds\": 5, \"search\": {\"trials\": 200}}')",
        )
        .await
    });
    // wait until the first trial is on record, then pull the plug
    for _ in 0..600 {
        let runs = query_text(&c, "SELECT count(*) FROM voidx.runs").await;
        if runs[0][0] != "0" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill9();
    assert!(
        long.await.unwrap().is_err(),
        "the training should have been cut off"
    );

    let server = Server::start(&data);
    let c = server.client().await;
    assert_eq!(
        query_text(&c, "SELECT count(*) FROM voidx.models").await,
        vec![vec!["0"]]
    );
    assert_ne!(
        query_text(&c, "SELECT count(*) FROM voidx.runs").await,
        vec![vec!["0"]]
    );
    // version 1 was reserved by the cut-off training and shows in voidx.runs
    assert_eq!(query_text(&c, TRAIN).await, vec![vec!["2", "production"]]);
}

/// Property through SQL: for every row, expected_value + Σ contributions
/// equals predict() (regression: raw score = prediction).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shap_values_add_up_through_sql() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let c = server.client().await;
    c.batch_execute(SETUP)
        .await
        .unwrap_or_else(|e| panic!("{}", describe_error(&e)));
    query_text(&c, TRAIN).await;
    let rows = query_text(
        &c,
        "SELECT predict('m', x1, x2, x3), shap_explain('m', x1, x2, x3) FROM rows",
    )
    .await;
    assert_eq!(rows.len(), 3000);
    for row in rows {
        let prediction: f64 = row[0].parse().unwrap();
        let shap: serde_json::Value = serde_json::from_str(&row[1]).unwrap();
        let contributions = shap["contributions"].as_object().unwrap();
        assert_eq!(
            contributions.keys().collect::<Vec<_>>(),
            vec!["x1", "x2", "x3"]
        );
        let total = shap["expected_value"].as_f64().unwrap()
            + contributions
                .values()
                .map(|v| v.as_f64().unwrap())
                .sum::<f64>();
        assert!(
            (total - prediction).abs() <= 1e-9 * (1.0 + prediction.abs()),
            "{total} vs {prediction}"
        );
    }
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("udfs/tests/fixtures/models")
}

fn literal(v: &serde_json::Value) -> String {
    match v.as_f64() {
        Some(x) => format!("CAST({x:?} AS DOUBLE)"),
        None => "CAST(NULL AS DOUBLE)".into(),
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0)
}

/// Models trained by the real libraries (fixtures made by
/// `make_fixtures.py`): import_model, then predict and shap_explain agree
/// with the library's predict and pred_contribs on the golden rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_models_match_their_libraries() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures_dir = fixtures().display().to_string();
    let server = Server::start_with(
        &tmp.path().join("data"),
        &[],
        &[("VOIDX_INGEST__ALLOWED_DIRS", fixtures_dir.as_str())],
    );
    let c = server.client().await;
    for (file, format) in [
        ("xgb_reg.json", "xgboost"),
        ("xgb_bin.json", "xgboost"),
        ("xgb_logitraw.json", "xgboost"),
        ("lgb_reg.txt", "lightgbm"),
        ("lgb_bin.txt", "lightgbm"),
        ("lgb_bin_sigmoid2.txt", "lightgbm"),
    ] {
        let stem = file.split('.').next().unwrap();
        let path = fixtures().join(file);
        let imported = query_text(
            &c,
            &format!(
                "SELECT name, version, stage FROM import_model('{stem}', '{}', '{{\"format\": \"{format}\"}}')",
                path.display()
            ),
        )
        .await;
        assert_eq!(imported, vec![vec![stem, "1", "production"]]);
        let golden: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixtures().join(format!("{stem}.golden.json"))).unwrap(),
        )
        .unwrap();
        let rows = golden["rows"].as_array().unwrap();
        // LightGBM's `sigmoid:2` is folded into the leaves: our raw score
        // (and its SHAP values) is twice the library's.
        let raw_scale = if stem == "lgb_bin_sigmoid2" { 2.0 } else { 1.0 };
        let selects: Vec<String> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let args: Vec<String> = r.as_array().unwrap().iter().map(literal).collect();
                let args = args.join(", ");
                format!("SELECT {i} AS i, predict('{stem}', {args}) AS p, shap_explain('{stem}', {args}) AS s")
            })
            .collect();
        let sql = format!("{} ORDER BY i", selects.join(" UNION ALL "));
        let features: Vec<String> = serde_json::from_str(
            &query_text(
                &c,
                &format!("SELECT features FROM voidx.models WHERE name = '{stem}'"),
            )
            .await[0][0],
        )
        .unwrap();
        let got = query_text(&c, &sql).await;
        assert_eq!(got.len(), rows.len());
        for (i, row) in got.iter().enumerate() {
            let p: f64 = row[1].parse().unwrap();
            let want = golden["predict"][i].as_f64().unwrap();
            assert!(
                close(p, want, 1e-5),
                "{stem} row {i}: predict {p} vs {want}"
            );
            let shap: serde_json::Value = serde_json::from_str(&row[2]).unwrap();
            let contribs = golden["contribs"][i].as_array().unwrap();
            // serde_json sorts object keys: look contributions up by name
            let ours: Vec<f64> = features
                .iter()
                .map(|f| shap["contributions"][f].as_f64().unwrap())
                .collect();
            for (j, want) in contribs[..contribs.len() - 1].iter().enumerate() {
                let want = raw_scale * want.as_f64().unwrap();
                assert!(
                    close(ours[j], want, 1e-4),
                    "{stem} row {i} feature {j}: {} vs {want}",
                    ours[j]
                );
            }
            let bias = raw_scale * contribs.last().unwrap().as_f64().unwrap();
            let expected = shap["expected_value"].as_f64().unwrap();
            assert!(
                close(expected, bias, 1e-4),
                "{stem}: expected value {expected} vs {bias}"
            );
        }
    }
    // the file's feature names became the model's
    let names = query_text(
        &c,
        "SELECT features FROM voidx.models WHERE name = 'xgb_bin'",
    )
    .await;
    assert_eq!(names[0][0], r#"["f0","f1","f2","f3","f4"]"#);
    let err = c
        .simple_query(&format!(
            "SELECT * FROM import_model('bad', '{}', '{{\"format\": \"lightgbm\"}}')",
            fixtures().join("xgb_reg.json").display()
        ))
        .await
        .unwrap_err();
    assert!(
        describe_error(&err).starts_with("22P02"),
        "{}",
        describe_error(&err)
    );
}
