//! Generated REST requests through the real axum router, in-process: the
//! body parsers of `POST /predict` and `POST /v1/models/{name}/predict`
//! (single rows and batches), query strings, percent-encoded model names,
//! feature maps with any JSON in them. The property: no request gets a
//! 500 (a panic caught by the router's catch-panic layer, or an internal
//! error); every answer is a 2xx or a 4xx with its `{code, error,
//! message}` body.
//!
//! ```text
//! cargo test -p voidx --lib props::rest
//! ```

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use proptest::prelude::*;
use serde_json::{Map, Value};
use tower::ServiceExt;

use super::sql_functions::fixture;
use super::values::{Holds, Opt, json_value, nasty_text, opt, options_text};
use crate::config::Config;

const CASES: u32 = 256;

/// The `POST /predict` body's keys, as an option object (valid-looking
/// values, then one mutation).
const BODY: &[Opt] = &[
    opt("customer_id", Holds::Word(&["c-1", "c-2", ""])),
    opt(
        "features",
        Holds::Json(&["{\"x\": 1.5, \"y\": 2}", "{\"x\": 1}", "{}"]),
    ),
    opt("include_explanations", Holds::Json(&["true", "false"])),
];
/// Small, so generated batches cross it.
const MAX_BATCH_ROWS: usize = 6;

fn router() -> &'static axum::Router {
    static ROUTER: OnceLock<axum::Router> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let fixture = fixture();
        let mut config = Config {
            data_dir: fixture.data_dir().display().to_string(),
            ..Config::default()
        };
        config.serve.default_model = "m".into();
        config.serve.max_batch_rows = MAX_BATCH_ROWS;
        config.serve.body_limit_kb = 64;
        let state = fixture
            .runtime
            .block_on(crate::serve::http::state(&config, &fixture.app))
            .expect("the REST state");
        crate::serve::http::router(Arc::clone(&state))
    })
}

fn path() -> BoxedStrategy<String> {
    prop_oneof![
        3 => Just("/predict".to_string()),
        3 => proptest::sample::select(vec!["m", "c", "m@1", "m@2", "nomodel", "m@99999999999999999999"])
            .prop_map(|m| format!("/v1/models/{m}/predict")),
        2 => nasty_text().prop_map(|m| format!(
            "/v1/models/{}/predict",
            utf8_percent_encode(&m, NON_ALPHANUMERIC)
        )),
    ]
    .boxed()
}

fn query() -> BoxedStrategy<String> {
    prop_oneof![
        4 => Just(String::new()),
        2 => proptest::sample::select(vec![
            "?show_sql=true", "?show_sql=false", "?show_sql=maybe", "?show_sql=1&show_sql=2",
            "?%ff=%fe", "?=", "?&&", "?show_sql", "?other=1",
        ]).prop_map(String::from),
        1 => nasty_text().prop_map(|q| format!("?show_sql={}", utf8_percent_encode(&q, NON_ALPHANUMERIC))),
    ]
    .boxed()
}

const FEATURE_KEYS: &[&str] = &["x", "y", "z", "features", "customer_id"];

fn row() -> BoxedStrategy<Value> {
    let features = prop_oneof![
        4 => proptest::collection::vec(
            (proptest::sample::select(FEATURE_KEYS).prop_map(String::from), json_value(&[])),
            0..4,
        )
        .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        1 => json_value(FEATURE_KEYS),
    ];
    let customer = prop_oneof![
        3 => nasty_text().prop_map(Value::String),
        1 => json_value(&[]),
    ];
    let explain = prop_oneof![3 => any::<bool>().prop_map(Value::Bool), 1 => json_value(&[])];
    (features, customer, explain, any::<u8>())
        .prop_map(|(features, customer, explain, drop)| {
            let mut row = Map::new();
            if drop & 1 == 0 {
                row.insert("features".into(), features);
            }
            if drop & 2 == 0 {
                row.insert("customer_id".into(), customer);
            }
            if drop & 4 == 0 {
                row.insert("include_explanations".into(), explain);
            }
            Value::Object(row)
        })
        .boxed()
}

fn body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        4 => row().prop_map(|r| r.to_string().into_bytes()),
        3 => proptest::collection::vec(row(), 0..MAX_BATCH_ROWS + 3)
            .prop_map(|rows| Value::Array(rows).to_string().into_bytes()),
        1 => any::<Vec<u8>>(),
        1 => options_text(BODY).prop_map(String::into_bytes),
        1 => (1usize..200).prop_map(|k| "x".repeat(k * 1024).into_bytes()),
    ]
    .boxed()
}

#[test]
fn no_request_gets_a_500() {
    let fixture = fixture();
    let router = router();
    super::fuzz(
        "REST predict",
        CASES,
        (path(), query(), body()),
        |(path, query, body)| {
            let Ok(request) = Request::builder()
                .method("POST")
                .uri(format!("{path}{query}"))
                .header("content-type", "application/json")
                .body(Body::from(body))
            else {
                // Not a request a client could send (an invalid URI).
                return;
            };
            let (status, text) = fixture.runtime.block_on(async {
                let response = router.clone().oneshot(request).await.expect("infallible");
                let status = response.status();
                let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                    .await
                    .unwrap_or_default();
                (status, String::from_utf8_lossy(&bytes).into_owned())
            });
            assert_ne!(
                status,
                StatusCode::INTERNAL_SERVER_ERROR,
                "{path}{query}: {text}"
            );
            if !status.is_success() {
                let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
                    panic!("{path}{query}: {status} with a non-JSON body ({e}): {text}")
                });
                assert!(body.get("code").is_some(), "{path}{query}: {text}");
            }
        },
    );
}
