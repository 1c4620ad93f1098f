//! REST keys limited to models (`[serve.keys.NAME] models = [...]`): such a
//! key predicts with its models and gets 403 for any other, however the
//! model's name is spelled in the path; plain `serve.api_keys` still use
//! every model.

use serde_json::Value;

use crate::common::Server;
use crate::security::exec;

const SETUP: &str = "
CREATE TABLE d AS
SELECT value AS id, CAST(value % 17 AS DOUBLE) AS x1, CAST(value % 5 AS DOUBLE) AS x2
FROM generate_series(1, 300);
SELECT * FROM train('revenue_predictor', 'SELECT x1, x2, x1 + x2 AS y FROM d', 'y', '{\"cv_folds\": 0, \"n_estimators\": 5}');
SELECT * FROM train('churn', 'SELECT x1, x2, x1 * 2 AS y FROM d', 'y', '{\"cv_folds\": 0, \"n_estimators\": 5}');
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_limited_to_models_uses_only_those() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("data"),
        &[],
        &[
            ("VOIDX_SERVE__API_KEYS", "full-key-0001"),
            ("VOIDX_SERVE__KEYS__BI__KEY", "bi-key-0001"),
            ("VOIDX_SERVE__KEYS__BI__MODELS", "revenue_predictor"),
        ],
    );
    exec(&server.client().await, SETUP).await;
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", server.http_port);
    let call = |path: &str, key: Option<&str>, body: &str| {
        let mut request = client
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        async move {
            let response = request.send().await.expect("HTTP request");
            let status = response.status().as_u16();
            let text = response.text().await.expect("HTTP body");
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)),
            )
        }
    };
    let row = r#"{"features": {"x1": 1, "x2": 2}}"#;
    let classic = r#"{"customer_id": "c1", "features": {"x1": 1, "x2": 2}}"#;
    let bi = Some("bi-key-0001");

    let (s, b) = call("/v1/models/revenue_predictor/predict", bi, row).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = call("/predict", bi, classic).await;
    assert_eq!(s, 200, "{b}");
    for path in [
        "/v1/models/churn/predict",
        "/v1/models/%63hurn/predict",
        "/v1/models/revenue_predictor%40/predict",
    ] {
        let (s, b) = call(path, bi, row).await;
        assert_eq!(s, 403, "{path}: {b}");
        assert_eq!(b["code"], "model_not_allowed", "{b}");
        let message = b["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("revenue_predictor") && b["error"].is_string(),
            "{b}"
        );
    }
    // Unrestricted keys, and no key at all, as before.
    let (s, b) = call("/v1/models/churn/predict", Some("full-key-0001"), row).await;
    assert_eq!(s, 200, "{b}");
    let (s, _) = call("/v1/models/churn/predict", None, row).await;
    assert_eq!(s, 401);
    let (s, _) = call("/v1/models/churn/predict", Some("bi-key-000"), row).await;
    assert_eq!(s, 401);
}
