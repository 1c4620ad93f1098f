//! The web dashboard (docs/dashboard.md): every chart's SQL runs and has
//! rows on `serve --demo` after some traffic, the page works in a real
//! headless Chromium (tests/browser/dashboard.py: no console error, every
//! chart drawn with data, tabs work, the SQL shown), and the data endpoints
//! follow the REST shim's authentication.
//!
//! `VOIDX_UPDATE_SCREENSHOTS=1` also copies the browser's screenshots to
//! docs/img/. Chromium missing is a failure, never a skip: scripts/test.sh
//! installs the Debian package.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Map, Value, json};

use crate::common::{Http, ROOT_AND_ANALYST, Server, basic, exec, wait_for};

/// The features of some demo customers, as `POST /predict` bodies.
async fn demo_requests(client: &tokio_postgres::Client, n: usize) -> Vec<String> {
    let sql = format!("SELECT * FROM features.customer_revenue_v2 ORDER BY customer_id LIMIT {n}");
    let messages = client.simple_query(&sql).await.expect("demo features");
    let mut bodies = Vec::new();
    for m in messages {
        let tokio_postgres::SimpleQueryMessage::Row(row) = m else {
            continue;
        };
        let mut features = Map::new();
        let mut customer = String::new();
        for (i, col) in row.columns().iter().enumerate() {
            let value = row.get(i);
            match col.name() {
                "customer_id" => customer = value.unwrap_or_default().to_string(),
                "revenue_next_90d" => {}
                name => {
                    let v = match value {
                        None => Value::Null,
                        Some("t") => json!(true),
                        Some("f") => json!(false),
                        Some(text) => text.parse::<f64>().map(|x| json!(x)).unwrap_or(Value::Null),
                    };
                    features.insert(name.to_string(), v);
                }
            }
        }
        bodies.push(json!({"customer_id": customer, "features": features}).to_string());
    }
    bodies
}

/// Traffic that gives every chart data: predictions (half of them cache
/// hits), an ingest, a job run, a drift check and an alert that fires.
async fn send_traffic(server: &Server) {
    let client = server.client().await;
    let http = Http::new(server);
    for body in demo_requests(&client, 25).await {
        for _ in 0..2 {
            let (status, answer) = http.post("/predict", &body).await;
            assert_eq!(status, 200, "{answer}");
        }
    }
    exec(
        &client,
        "SELECT * FROM ingest('raw.orders_sample', 'SELECT * FROM shop.orders LIMIT 200', '{\"mode\": \"append\"}');
         SELECT * FROM create_job('refresh_sample', 'SELECT count(*) FROM raw.orders_sample', '{\"every\": \"1h\"}');
         SELECT * FROM run_job('refresh_sample');
         SELECT feature, psi, status FROM drift_report('revenue_predictor', 'SELECT * FROM features.customer_revenue_v2 LIMIT 500');",
    )
    .await;
    wait_for(&client, "SELECT count(*) FROM voidx.predictions", 30, |r| {
        r[0][0] == "50"
    })
    .await;
    exec(
        &client,
        "SELECT * FROM create_alert('live_drift', 'SELECT feature, psi FROM monitoring.drift_daily WHERE psi >= 0.25', '{\"every\": \"1s\"}')",
    )
    .await;
    wait_for(
        &client,
        "SELECT count(*) FROM voidx.alerts WHERE name = 'live_drift'",
        30,
        |r| r[0][0] != "0",
    )
    .await;
}

fn chart_ids(list: &Value) -> Vec<String> {
    list["charts"]
        .as_array()
        .expect("charts")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect()
}

/// Every chart answers 200 with rows, through the same endpoint the page uses.
async fn every_chart_has_rows(http: &Http) {
    let (status, list) = http.get("/v1/dashboard").await;
    assert_eq!(status, 200, "{list}");
    let ids = chart_ids(&list);
    assert!(ids.len() >= 15, "{ids:?}");
    let pages: Vec<&str> = list["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        pages,
        ["business", "models", "serving", "drift", "pipelines"]
    );
    let mut empty = Vec::new();
    for id in &ids {
        let (status, data) = http.get(&format!("/v1/dashboard/{id}")).await;
        assert_eq!(status, 200, "{id}: {data}");
        let sql = data["sql"].as_str().unwrap();
        assert!(!sql.contains('$'), "{id}: placeholders left in {sql}");
        if data["rows"].as_array().is_none_or(|r| r.is_empty()) {
            empty.push(id.clone());
        }
    }
    assert!(
        empty.is_empty(),
        "charts without rows on the demo: {empty:?}"
    );
    // A range with no traffic empties the live charts and keeps the business ones
    // (anchored at the last order).
    let (_, past) = http
        .get("/v1/dashboard/predictions_per_minute?from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z")
        .await;
    assert_eq!(past["rows"], json!([]), "{past}");
    assert!(past["empty"].as_str().unwrap().contains("POST /predict"));
    let (_, day) = http
        .get("/v1/dashboard/revenue_daily?from=2000-01-01T00:00:00Z&to=2000-01-08T00:00:00Z")
        .await;
    assert_eq!(day["rows"].as_array().map(Vec::len), Some(7), "{day}");
    let (status, bad) = http.get("/v1/dashboard/latency?from=yesterday").await;
    assert_eq!((status, bad["code"].as_str()), (400, Some("invalid_query")));
    let (status, none) = http.get("/v1/dashboard/no_such_chart").await;
    assert_eq!(
        (status, none["code"].as_str()),
        (404, Some("chart_not_found"))
    );
}

fn python() -> PathBuf {
    std::env::var_os("VOIDXTEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"))
}

fn chromium() -> PathBuf {
    let path = std::env::var_os("VOIDXTEST_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "no Chromium at {}: the dashboard is tested in a real browser. \
         Help: apt-get install -y chromium (scripts/test.sh does), or set VOIDXTEST_CHROMIUM",
        path.display()
    );
    path
}

fn run_browser(server: &Server, out: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(python())
        .arg(root.join("tests/browser/dashboard.py"))
        .arg("--url")
        .arg(format!("http://127.0.0.1:{}", server.http_port))
        .arg("--out")
        .arg(out)
        .arg("--chromium")
        .arg(chromium())
        .output()
        .expect("run tests/browser/dashboard.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{text}");
    assert!(output.status.success(), "the browser check failed:\n{text}");
    for page in ["business", "models", "serving", "drift", "pipelines"] {
        let shot = out.join(format!("dashboard-{page}.png"));
        let bytes = std::fs::read(&shot).unwrap_or_default();
        assert!(
            bytes.starts_with(b"\x89PNG"),
            "no screenshot {}",
            shot.display()
        );
        if std::env::var_os("VOIDX_UPDATE_SCREENSHOTS").is_some() {
            let docs = root.join("docs/img");
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::write(docs.join(format!("dashboard-{page}.png")), bytes).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_on_the_demo_in_a_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("data"),
        &["--demo"],
        &[("VOIDX_MONITOR__TICK_MS", "100")],
    );
    send_traffic(&server).await;
    let http = Http::new(&server);

    let page = http
        .client
        .get(format!("{}/", http.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(page.text().await.unwrap().contains("/dashboard/app.js"));

    every_chart_has_rows(&http).await;
    run_browser(&server, &tmp.path().join("screenshots"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_data_needs_a_key_or_a_login() {
    let mut env = vec![
        ("VOIDX_SERVE__API_KEYS", "full-key-0001"),
        ("VOIDX_SERVE__KEYS__BI__KEY", "bi-key-0001"),
        ("VOIDX_SERVE__KEYS__BI__MODELS", "revenue_predictor"),
        ("VOIDX_USERS__rita__PASSWORD", "reader password"),
        ("VOIDX_USERS__rita__ROLE", "reader"),
    ];
    env.extend(ROOT_AND_ANALYST);
    let (_tmp, server) = Server::start_temp(&env);
    let root = server.client_as("root", "root password").await;
    exec(&root, "CREATE TABLE t AS SELECT 1 AS x").await;
    let http = Http::new(&server);
    let get = |path: &str, auth: Option<String>| {
        let mut request = http.client.get(format!("{}{path}", http.base));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        http.send(request)
    };

    // The page and its files load without a credential; they hold no data.
    let (status, _) = get("/", None).await;
    assert_eq!(status, 200);
    let (status, _) = get("/dashboard/app.js", None).await;
    assert_eq!(status, 200);

    for path in ["/v1/dashboard", "/v1/dashboard/model_registry"] {
        for auth in [
            None,
            Some("Bearer wrong-key".to_string()),
            Some(basic("ann", "wrong password")),
            Some(basic("nobody", "analyst password")),
            Some("Basic not-base64!".to_string()),
        ] {
            let (status, body) = get(path, auth.clone()).await;
            assert_eq!(status, 401, "{path} with {auth:?}: {body}");
            assert_eq!(body["code"], "unauthorized", "{body}");
            assert!(body.get("rows").is_none() && body.get("charts").is_none());
        }
        // A key limited to some models fails closed: the dashboard reads every table.
        let (status, body) = get(path, Some("Bearer bi-key-0001".into())).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("dashboard_not_allowed")),
            "{body}"
        );
        assert!(body.get("rows").is_none(), "{body}");
    }

    for auth in [
        "Bearer full-key-0001".to_string(),
        basic("ann", "analyst password"),
        basic("rita", "reader password"),
        basic("root", "root password"),
    ] {
        let (status, body) = get("/v1/dashboard/model_registry", Some(auth.clone())).await;
        assert_eq!(status, 200, "{auth}: {body}");
        assert_eq!(body["rows"], json!([]), "no models on this server");
    }
}
