//! REST keys limited to models (`[serve.keys.NAME] models = [...]`): such a
//! key predicts with its models and gets 403 for any other, however the
//! model's name is spelled in the path; plain `serve.api_keys` still use
//! every model.

use crate::common::{Http, Server, exec};

const SETUP: &str = "
CREATE TABLE d AS
SELECT value AS id, CAST(value % 17 AS DOUBLE) AS x1, CAST(value % 5 AS DOUBLE) AS x2
FROM generate_series(1, 300);
SELECT * FROM train('revenue_predictor', 'SELECT x1, x2, x1 + x2 AS y FROM d', 'y', '{\"cv_folds\": 0, \"n_estimators\": 5}');
SELECT * FROM train('churn', 'SELECT x1, x2, x1 * 2 AS y FROM d', 'y', '{\"cv_folds\": 0, \"n_estimators\": 5}');
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_limited_to_models_uses_only_those() {
    let (_tmp, server) = Server::start_temp(&[
        ("VOIDX_SERVE__API_KEYS", "full-key-0001"),
        ("VOIDX_SERVE__KEYS__BI__KEY", "bi-key-0001"),
        ("VOIDX_SERVE__KEYS__BI__MODELS", "revenue_predictor"),
    ]);
    exec(&server.client().await, SETUP).await;
    let http = Http::new(&server);
    let call = |path: &'static str, key: Option<&'static str>, body: &'static str| {
        http.post_with_key(path, body, key)
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
