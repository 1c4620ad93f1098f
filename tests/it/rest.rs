//! The REST shim against a real server: every status code, REST == SQL,
//! cache invalidation on deploy, A/B stickiness and shares, and the
//! prediction log surviving a restart.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::redis::RedisServer;
use crate::common::{DEMO_TARGET, Http, Server, demo_table, exec, query_text, train_sql};

/// The demo table and model `revenue_predictor` on it.
fn setup() -> String {
    format!(
        "{}{}",
        demo_table(1000),
        train_sql(
            "revenue_predictor",
            &format!("SELECT x1, x2, {DEMO_TARGET} AS y FROM d"),
            "y",
            r#"{"cv_folds": 3, "n_estimators": 30}"#
        )
    )
}

async fn started(args: &[&str], env: &[(&str, &str)]) -> (tempfile::TempDir, Server, Http) {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(&tmp.path().join("data"), args, env);
    exec(&server.client().await, &setup()).await;
    let http = Http::new(&server);
    (tmp, server, http)
}

fn classic(customer: &str, x1: f64, x2: f64, explain: bool) -> String {
    json!({"customer_id": customer, "features": {"x1": x1, "x2": x2}, "include_explanations": explain})
        .to_string()
}

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["error"].is_string() && body["message"].is_string(),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_codes_and_error_bodies() {
    let (_tmp, _server, http) = started(
        &[],
        &[
            ("VOIDX_SERVE__MAX_BATCH_ROWS", "3"),
            ("VOIDX_SERVE__BODY_LIMIT_KB", "2"),
        ],
    )
    .await;
    let (s, b) = http.post("/predict", &classic("c1", 1.0, 2.0, true)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["customer_id"], "c1");
    assert!(b["predicted_revenue"].is_f64());
    assert_eq!(b["confidence_interval"].as_array().unwrap().len(), 2);
    assert_eq!(b["explanations"].as_object().unwrap().len(), 2);
    assert_eq!(b["model_version"], "1");
    assert_eq!(b["cached"], false);
    let (_, again) = http.post("/predict", &classic("c1", 1.0, 2.0, true)).await;
    assert_eq!(again["cached"], true);
    assert_eq!(again["predicted_revenue"], b["predicted_revenue"]);

    let (s, b) = http.post("/predict", "{\"customer_id\": ").await;
    assert_eq!(s, 400);
    assert_error(&b, "malformed_json");
    let (s, b) = http
        .post("/predict", r#"{"customer_id": "c", "features": {"x1": 1}}"#)
        .await;
    assert_eq!(s, 422);
    assert_error(&b, "missing_features");
    assert!(b["message"].as_str().unwrap().contains("x2"));
    let (s, b) = http
        .post(
            "/predict",
            r#"{"customer_id": "c", "features": {"x1": "a", "x2": 1}}"#,
        )
        .await;
    assert_eq!(s, 422);
    assert_error(&b, "non_numeric_features");
    let (s, b) = http
        .post("/predict", r#"{"features": {"x1": 1, "x2": 1}}"#)
        .await;
    assert_eq!(s, 422, "customer_id is required by the classic contract");
    assert_error(&b, "invalid_request");
    // unknown features are ignored by default; null is a missing value
    let (s, _) = http
        .post(
            "/predict",
            r#"{"customer_id": "c", "features": {"x1": 1, "x2": null, "zz": 3}}"#,
        )
        .await;
    assert_eq!(s, 200);
    let (s, b) = http
        .post("/v1/models/nope/predict", r#"{"features": {}}"#)
        .await;
    assert_eq!(s, 404);
    assert_error(&b, "model_not_found");
    let rows = json!([{"features": {"x1": 1, "x2": 2}}, {"features": {"x1": 1, "x2": 2}}]);
    let (s, b) = http
        .post("/v1/models/revenue_predictor/predict", &rows.to_string())
        .await;
    assert_eq!(s, 200);
    assert_eq!(b.as_array().unwrap().len(), 2);
    assert!(b[0]["prediction"].is_f64());
    let many = json!([{"features": {}}, {"features": {}}, {"features": {}}, {"features": {}}]);
    let (s, b) = http
        .post("/v1/models/revenue_predictor/predict", &many.to_string())
        .await;
    assert_eq!(s, 413);
    assert_error(&b, "batch_too_large");
    let huge = format!(
        r#"{{"customer_id": "{}", "features": {{}}}}"#,
        "x".repeat(4096)
    );
    let (s, b) = http.post("/predict", &huge).await;
    assert_eq!(s, 413);
    assert_error(&b, "body_too_large");
    let (s, b) = http.get("/nowhere").await;
    assert_eq!(s, 404);
    assert_error(&b, "not_found");
    let (s, b) = http.get("/health").await;
    assert_eq!(s, 200);
    assert_eq!(b["status"], "ok");
    assert_eq!(b["models"][0]["production_version"], 1);
    let (s, _) = http.get("/docs").await;
    assert_eq!(s, 200);
    let (s, spec) = http.get("/openapi.json").await;
    assert_eq!(s, 200);
    assert_eq!(spec["openapi"], "3.1.0");
    assert!(spec["paths"]["/predict"]["post"].is_object());
    let metrics = reqwest::get(format!("{}/metrics", http.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"voidx_http_requests_total{route="/predict",status="422",model="",version=""} 3"#
        ),
        "{metrics}"
    );
    let hits: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("voidx_cache_hits_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(hits >= 2, "{metrics}");
    assert!(
        metrics.contains("voidx_prediction_log_queue_depth"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_and_unknown_feature_rejection() {
    let (_tmp, _server, http) = started(
        &[],
        &[
            ("VOIDX_SERVE__API_KEYS", "k1,k2"),
            ("VOIDX_SERVE__UNKNOWN_FEATURES", "reject"),
        ],
    )
    .await;
    let (s, b) = http.post("/predict", &classic("c1", 1.0, 2.0, false)).await;
    assert_eq!(s, 401);
    assert_error(&b, "unauthorized");
    let with = |key: &str| {
        http.client
            .post(format!("{}/predict", http.base))
            .header("authorization", format!("Bearer {key}"))
            .body(r#"{"customer_id": "c", "features": {"x1": 1, "x2": 2, "extra": 1}}"#)
    };
    let (s, _) = http.send(with("wrong")).await;
    assert_eq!(s, 401);
    let (s, b) = http.send(with("k2")).await;
    assert_eq!(s, 422);
    assert_error(&b, "unknown_features");
    // health stays open for load balancers
    assert_eq!(http.get("/health").await.0, 200);
}

/// The REST answer equals what its SQL statement returns over pgwire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_answers_equal_sql_answers() {
    let (_tmp, server, http) = started(&[], &[]).await;
    let c = server.client().await;
    for (i, (x1, x2)) in [(0.5, 3.25), (7.0, 0.1), (9.9, 9.6), (2.0, 5.0)]
        .into_iter()
        .enumerate()
    {
        let body = json!({"features": {"x1": x1, "x2": x2}, "include_explanations": true});
        let (s, rest) = http
            .post(
                "/v1/models/revenue_predictor/predict?show_sql=true",
                &body.to_string(),
            )
            .await;
        assert_eq!(s, 200, "{rest}");
        let sql = rest["sql"].as_str().unwrap();
        let rows = query_text(&c, sql).await;
        // Both sides' decimal text goes through serde_json's float parser,
        // which the REST body was read with (it is not always the correctly
        // rounded one, so str::parse could differ in the last bit).
        let num = |text: &str| {
            serde_json::from_str::<Value>(text)
                .unwrap()
                .as_f64()
                .unwrap()
        };
        let prediction = num(&rows[0][0]);
        assert_eq!(
            rest["prediction"].as_f64().unwrap(),
            prediction,
            "row {i}: {sql}"
        );
        let interval = rows[0][1].trim_matches(|c| c == '(' || c == ')');
        let (lo, hi) = interval.split_once(',').unwrap();
        assert_eq!(rest["confidence_interval"][0].as_f64().unwrap(), num(lo));
        assert_eq!(rest["confidence_interval"][1].as_f64().unwrap(), num(hi));
        let shap: Value = serde_json::from_str(&rows[0][2]).unwrap();
        for (feature, v) in rest["explanations"].as_object().unwrap() {
            assert_eq!(
                v.as_f64(),
                shap["contributions"][feature].as_f64(),
                "{feature}"
            );
        }
        // and the plain SQL a user would write gives the same number
        let direct = query_text(
            &c,
            &format!("SELECT predict('revenue_predictor', {x1:?}, {x2:?})"),
        )
        .await;
        assert_eq!(num(&direct[0][0]), prediction);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_invalidates_the_cache_and_ab_split_is_sticky() {
    let (_tmp, server, http) = started(&[], &[]).await;
    let c = server.client().await;
    query_text(
        &c,
        "SELECT version FROM train('revenue_predictor', 'SELECT x1, x2, x1 * 100 AS y FROM d', 'y', '{\"cv_folds\": 0, \"deploy\": \"never\"}')",
    )
    .await;
    let body = classic("c1", 4.0, 4.0, false);
    let (_, first) = http.post("/predict", &body).await;
    let (_, cached) = http.post("/predict", &body).await;
    assert_eq!(
        (first["model_version"].as_str(), cached["cached"].as_bool()),
        (Some("1"), Some(true))
    );
    query_text(&c, "SELECT * FROM deploy('revenue_predictor', 2)").await;
    let (_, after) = http.post("/predict", &body).await;
    assert_eq!(after["model_version"], "2");
    assert_eq!(after["cached"], false);
    assert_ne!(after["predicted_revenue"], first["predicted_revenue"]);

    query_text(
        &c,
        r#"SELECT * FROM ab_split('revenue_predictor', '{"1": 0.9, "2": 0.1}')"#,
    )
    .await;
    assert_eq!(
        query_text(
            &c,
            "SELECT version, traffic_share FROM voidx.models ORDER BY version"
        )
        .await,
        vec![vec!["1", "0.9"], vec!["2", "0.1"]]
    );
    let mut first_answer = std::collections::HashMap::new();
    let mut on_two = 0;
    let n = 10_000;
    let rows: Vec<Value> = (0..n)
        .map(|i| json!({"customer_id": format!("cust-{i}"), "features": {"x1": 1, "x2": 1}}))
        .collect();
    for chunk in rows.chunks(500) {
        let (s, b) = http
            .post(
                "/v1/models/revenue_predictor/predict",
                &Value::Array(chunk.to_vec()).to_string(),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        for r in b.as_array().unwrap() {
            let v = r["model_version"].as_str().unwrap().to_string();
            if v == "2" {
                on_two += 1;
            }
            first_answer.insert(r["customer_id"].as_str().unwrap().to_string(), v);
        }
    }
    let share = on_two as f64 / n as f64;
    assert!(
        (share - 0.1).abs() < 0.015,
        "version 2 got {share} of the traffic"
    );
    // sticky: the same customers land on the same versions again
    for i in (0..n).step_by(97) {
        let id = format!("cust-{i}");
        let (_, b) = http
            .post(
                "/predict",
                &json!({"customer_id": id, "features": {"x1": 1, "x2": 1}}).to_string(),
            )
            .await;
        assert_eq!(b["model_version"].as_str().unwrap(), first_answer[&id]);
    }
    // deploying the production version (2) again ends the split ...
    query_text(&c, "SELECT * FROM deploy('revenue_predictor', 2)").await;
    assert_eq!(
        query_text(
            &c,
            "SELECT version, stage, traffic_share FROM voidx.models ORDER BY version"
        )
        .await,
        vec![vec!["1", "archived", "0"], vec!["2", "production", "1.0"]]
    );
    let (_, b) = http
        .post(
            "/predict",
            &json!({"customer_id": "cust-0", "features": {"x1": 1, "x2": 1}}).to_string(),
        )
        .await;
    assert_eq!(b["model_version"], "2");
    // ... and is no deployment of its own: one rollback goes back to 1
    assert_eq!(
        query_text(
            &c,
            "SELECT production_version, previous_version FROM rollback('revenue_predictor')"
        )
        .await,
        vec![vec!["1", "2"]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prediction_log_is_written_and_survives_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start(&data);
    exec(&server.client().await, &setup()).await;
    let http = Http::new(&server);
    for i in 0..25 {
        let (s, _) = http
            .post("/predict", &classic(&format!("c{i}"), i as f64, 1.0, false))
            .await;
        assert_eq!(s, 200);
    }
    // a clean stop flushes whatever is still queued
    server.stop();
    let server = Server::start(&data);
    let c = server.client().await;
    let rows = query_text(
        &c,
        "SELECT count(*), count(DISTINCT request_id), min(model), min(version), sum(CASE WHEN cached THEN 1 ELSE 0 END) FROM voidx.predictions",
    )
    .await;
    assert_eq!(rows, vec![vec!["25", "25", "revenue_predictor", "1", "0"]]);
    let c0 = query_text(
        &c,
        "SELECT customer_id, features FROM voidx.predictions WHERE customer_id = 'c3'",
    )
    .await;
    assert_eq!(c0[0][1], r#"{"x1":3.0,"x2":1.0}"#);
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// Schemathesis (from PyPI, in the test venv) fuzzes every operation of
/// `/openapi.json` and checks responses against it. One check is left out
/// on purpose: `positive_data_acceptance` expects any schema-valid body to
/// succeed, but which features are required depends on the model, so the
/// schema cannot say it; missing features are a documented 422.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failures() {
    let python = crate::common::require_python();
    let st = python.with_file_name("st");
    assert!(
        st.is_file(),
        "{} missing: run `bash scripts/test.sh`",
        st.display()
    );
    let (tmp, server, http) = started(&[], &[]).await;
    let spec = format!("{}/openapi.json", http.base);
    // Schemathesis keeps a cache (.schemathesis/) in its working directory:
    // run it in the test's own temporary directory, never in the checkout.
    let workdir = tmp.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(st)
            .current_dir(&workdir)
            .args([
                "run",
                &spec,
                "--checks",
                "all",
                "--exclude-checks",
                "positive_data_acceptance",
            ])
            .args([
                "--max-examples",
                "40",
                "--seed",
                "1",
                "--request-timeout",
                "10",
            ])
            // The stateful phase chains operations through links it infers
            // (here /health -> predict, which share nothing) and reported a
            // query parameter "in path"; coverage and fuzzing test every
            // operation, parameter and body shape.
            .args(["--phases", "examples,coverage,fuzzing"])
            .env("SCHEMATHESIS_TELEMETRY", "false")
            .output()
    })
    .await
    .unwrap()
    .expect("run schemathesis");
    assert!(
        out.status.success(),
        "schemathesis failed:\n{}\n{}\n--- server log ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
}

/// A real redis-server shares cached answers between two replicas; when it
/// goes away, predictions keep coming (uncached) and /health says degraded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cache_is_shared_and_optional() {
    let mut redis = RedisServer::start();
    let url = redis.url.clone();
    let env = [("VOIDX_CACHE__URL", url.as_str())];
    let (tmp, server_a, a) = started(&[], &env).await;
    // a second replica on the same data directory would fight over the
    // registry; its own directory with the same model is enough here
    let (_tmp_b, _server_b, b) = started(&[], &env).await;
    let body = classic("c1", 2.5, 7.5, true);
    let (s, first) = a.post("/predict", &body).await;
    assert_eq!(
        (s, first["cached"].as_bool()),
        (200, Some(false)),
        "{first}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await; // the Redis write is asynchronous
    let (_, from_b) = b.post("/predict", &body).await;
    assert_eq!(
        from_b["cached"], true,
        "replica b should hit the shared cache: {from_b}"
    );
    assert_eq!(from_b["predicted_revenue"], first["predicted_revenue"]);
    assert_eq!(from_b["explanations"], first["explanations"]);
    let (_, health) = a.get("/health").await;
    assert_eq!(
        (
            health["status"].as_str(),
            health["cache"]["backend"].as_str()
        ),
        (Some("ok"), Some("memory+redis"))
    );

    redis.stop();
    let (s, fresh) = a.post("/predict", &classic("c2", 1.0, 1.0, false)).await;
    assert_eq!(
        (s, fresh["cached"].as_bool()),
        (200, Some(false)),
        "{fresh}"
    );
    let (_, health) = a.get("/health").await;
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["cache"]["redis"], "down");
    drop(server_a);
    drop(tmp);
}
