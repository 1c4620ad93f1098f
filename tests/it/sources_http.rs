//! `STORED AS REST` and `STORED AS HTML` against a small HTTP server in the
//! test process (axum on a free loopback port): three pagination styles, a
//! flaky endpoint (429 with Retry-After, then 503, then 200), an HTML
//! market page, a header from `env:VAR`, a redirect to a host that is not
//! allowed, and the default allowlist refusing loopback.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::common::{Server, describe_error, query_text};

const ROWS: i64 = 10;

#[derive(Default)]
struct Mock {
    /// Every request as `path?query`.
    requests: Mutex<Vec<String>>,
    flaky_hits: AtomicUsize,
}

impl Mock {
    fn log(&self, path: &str, q: &HashMap<String, String>) {
        let mut pairs: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
        pairs.sort();
        let entry = format!("{path}?{}", pairs.join("&"));
        self.requests.lock().unwrap().push(entry);
    }

    fn hits(&self, prefix: &str) -> Vec<String> {
        let requests = self.requests.lock().unwrap();
        requests
            .iter()
            .filter(|r| r.starts_with(prefix))
            .cloned()
            .collect()
    }
}

type Shared = Arc<Mock>;
type Params = Query<HashMap<String, String>>;

fn order(id: i64) -> Value {
    json!({
        "id": id,
        "amount": id as f64 * 1.5,
        "updated_at": format!("2026-01-{id:02}T00:00:00Z"),
        "customer": {"name": format!("c{id}")},
    })
}

/// Orders after `since` (the pushed-down filter), in pages.
fn orders(q: &HashMap<String, String>) -> Vec<Value> {
    (1..=ROWS)
        .map(order)
        .filter(|o| match q.get("since") {
            Some(since) => o["updated_at"].as_str().unwrap() > since.as_str(),
            None => true,
        })
        .collect()
}

fn param(q: &HashMap<String, String>, key: &str, default: usize) -> usize {
    q.get(key).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `{"data": [...], "links": {"next": "/next?page=2"}}`, 4 per page.
async fn next_link(State(m): State<Shared>, Query(q): Params) -> Response {
    m.log("/next", &q);
    let all = orders(&q);
    let page = param(&q, "page", 1);
    let rows: Vec<Value> = all.iter().skip((page - 1) * 4).take(4).cloned().collect();
    let more = page * 4 < all.len();
    let mut next = format!("/next?page={}", page + 1);
    if let Some(since) = q.get("since") {
        next.push_str("&since=");
        next.extend(url::form_urlencoded::byte_serialize(since.as_bytes()));
    }
    let next = if more {
        Value::String(next)
    } else {
        Value::Null
    };
    axum::Json(json!({"data": rows, "links": {"next": next}})).into_response()
}

/// `{"result": {"items": [...]}, "meta": {"next_cursor": "c3"}}`, 3 per page.
async fn cursor(State(m): State<Shared>, Query(q): Params) -> Response {
    m.log("/cursor", &q);
    let start = q
        .get("after")
        .and_then(|c| c.strip_prefix('c'))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let all = orders(&q);
    let rows: Vec<Value> = all.iter().skip(start).take(3).cloned().collect();
    let next = if start + 3 < all.len() {
        json!(format!("c{}", start + 3))
    } else {
        Value::Null
    };
    axum::Json(json!({"result": {"items": rows}, "meta": {"next_cursor": next}})).into_response()
}

/// A bare array; `?page=N&per_page=M`.
async fn page_number(State(m): State<Shared>, Query(q): Params) -> Response {
    m.log("/pages", &q);
    let page = param(&q, "page", 1);
    let size = param(&q, "per_page", 4);
    let rows: Vec<Value> = orders(&q)
        .into_iter()
        .skip((page - 1) * size)
        .take(size)
        .collect();
    axum::Json(Value::Array(rows)).into_response()
}

/// 429 (Retry-After: 1), then 503, then the data.
async fn flaky(State(m): State<Shared>) -> Response {
    match m.flaky_hits.fetch_add(1, Ordering::SeqCst) {
        0 => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "1")],
            "slow down",
        )
            .into_response(),
        1 => (StatusCode::SERVICE_UNAVAILABLE, "try later").into_response(),
        _ => axum::Json(json!([{"id": 1}, {"id": 2}])).into_response(),
    }
}

async fn secure(headers: HeaderMap) -> Response {
    match headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        Some("s3cret") => axum::Json(json!({"items": [{"ok": true, "n": 1}]})).into_response(),
        _ => (StatusCode::UNAUTHORIZED, "missing or wrong API key").into_response(),
    }
}

async fn redirect() -> Response {
    (
        StatusCode::FOUND,
        [(header::LOCATION, "http://blocked.example/steal")],
    )
        .into_response()
}

const MARKET: &str = r#"<!doctype html><html><head><title>Markets</title></head><body>
<h1>Quotes</h1>
<table class="nav"><tr><td>Home</td><td>About</td></tr></table>
<table id="quotes">
  <thead><tr><th>Company</th><th>Price (USD)</th><th>Change</th><th>Volume</th><th>Note</th></tr></thead>
  <tbody>
    <tr><td>Acme Corp<sup>[1]</sup></td><td>$1,234.50</td><td>+5.2%</td><td>12,345,678</td><td>—</td></tr>
    <tr><td>Globex</td><td>98.10</td><td>−1.5%</td><td>2&nbsp;500</td><td>n/a</td></tr>
    <tr><td>Initech</td><td>7*</td><td>0.0%</td><td>300†</td><td>halted</td></tr>
  </tbody>
</table>
<p>[1] Adjusted for the split.</p>
</body></html>"#;

async fn market() -> Html<&'static str> {
    Html(MARKET)
}

/// Serve the mock APIs; returns the base URL.
async fn start_mock() -> (String, Shared) {
    let mock: Shared = Arc::default();
    let app = Router::new()
        .route("/next", get(next_link))
        .route("/cursor", get(cursor))
        .route("/pages", get(page_number))
        .route("/flaky", get(flaky))
        .route("/secure", get(secure))
        .route("/redirect", get(redirect))
        .route("/market", get(market))
        .with_state(Arc::clone(&mock));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, mock)
}

async fn start_voidx() -> (tempfile::TempDir, Server) {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("data"),
        &[],
        &[
            ("VOIDX_INGEST__ALLOWED_HOSTS", "127.0.0.1"),
            ("SOURCES_TEST_API_KEY", "s3cret"),
            ("VOIDX_INGEST__SECRET_ENV", "SOURCES_TEST_*"),
        ],
    );
    (tmp, server)
}

async fn run(client: &tokio_postgres::Client, sql: &str) {
    client
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", describe_error(&e)));
}

async fn fails(client: &tokio_postgres::Client, sql: &str) -> String {
    match client.simple_query(sql).await {
        Ok(_) => panic!("{sql} should fail"),
        Err(e) => describe_error(&e),
    }
}

fn ids(rows: &[Vec<String>]) -> Vec<String> {
    rows.iter().map(|r| r[0].clone()).collect()
}

fn one_to(n: i64) -> Vec<String> {
    (1..=n).map(|i| i.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_pagination_styles_projection_and_filters() {
    let (base, mock) = start_mock().await;
    let (_tmp, server) = start_voidx().await;
    let c = server.client().await;

    // Next link (relative), inferred schema: nested objects become JSON text.
    run(
        &c,
        &format!(
            "CREATE EXTERNAL TABLE orders_next STORED AS REST LOCATION '{base}/next' \
             OPTIONS ('records' '$.data', 'next_page' '$.links.next')"
        ),
    )
    .await;
    let rows = query_text(
        &c,
        "SELECT id, amount, customer FROM orders_next ORDER BY id",
    )
    .await;
    assert_eq!(ids(&rows), one_to(ROWS));
    assert_eq!(rows[2][1], "4.5");
    assert_eq!(rows[0][2], r#"{"name":"c1"}"#);
    let rows = query_text(&c, "SELECT count(*), sum(id) FROM orders_next").await;
    assert_eq!(rows, vec![vec!["10".to_string(), "55".to_string()]]);

    // Cursor, declared columns (TIMESTAMP coerced from JSON text, missing key → NULL).
    run(
        &c,
        &format!(
            "CREATE EXTERNAL TABLE orders_cursor (id BIGINT, updated_at TIMESTAMP, missing TEXT) \
             STORED AS REST LOCATION '{base}/cursor' \
             OPTIONS ('records' '$.result.items', 'cursor' '$.meta.next_cursor', 'cursor_param' 'after')"
        ),
    )
    .await;
    let rows = query_text(
        &c,
        "SELECT id, updated_at, missing FROM orders_cursor ORDER BY id",
    )
    .await;
    assert_eq!(ids(&rows), one_to(ROWS));
    assert_eq!(rows[9][1], "2026-01-10 00:00:00");
    assert_eq!(rows[0][2], "NULL");
    assert_eq!(mock.hits("/cursor").len(), 4, "{:?}", mock.hits("/cursor"));

    // Page numbers: 4 + 4 + 2 rows, the short page ends it.
    run(
        &c,
        &format!(
            "CREATE EXTERNAL TABLE orders_pages (id BIGINT, amount DOUBLE) STORED AS REST \
             LOCATION '{base}/pages' \
             OPTIONS ('page_param' 'page', 'page_size' '4', 'page_size_param' 'per_page')"
        ),
    )
    .await;
    let before = mock.hits("/pages").len();
    let rows = query_text(&c, "SELECT amount FROM orders_pages ORDER BY amount").await;
    assert_eq!(rows.len(), 10);
    assert_eq!(rows[9][0], "15.0");
    let pages = mock.hits("/pages");
    assert_eq!(pages.len() - before, 3, "{pages:?}");
    assert!(
        pages.last().unwrap().contains("page=3&per_page=4"),
        "{pages:?}"
    );
    // LIMIT stops fetching after the first page.
    let before = mock.hits("/pages").len();
    let rows = query_text(&c, "SELECT id FROM orders_pages LIMIT 2").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(mock.hits("/pages").len() - before, 1);

    // Filter pushdown: the API sees ?since=…, DataFusion still filters.
    run(
        &c,
        &format!(
            "CREATE EXTERNAL TABLE orders_since (id BIGINT, updated_at TIMESTAMP) STORED AS REST \
             LOCATION '{base}/next' OPTIONS ('records' '$.data', 'next_page' '$.links.next', \
             'filter.updated_at' 'since')"
        ),
    )
    .await;
    let before = mock.hits("/next").len();
    let rows = query_text(
        &c,
        "SELECT id FROM orders_since WHERE updated_at > '2026-01-07T00:00:00' ORDER BY id",
    )
    .await;
    assert_eq!(ids(&rows), vec!["8", "9", "10"]);
    let sent = mock.hits("/next")[before..].to_vec();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains("since=2026-01-07T00:00:00"), "{sent:?}");
    // Without a filter on that column nothing is sent.
    let before = mock.hits("/next").len();
    let rows = query_text(&c, "SELECT id FROM orders_since WHERE id > 8 ORDER BY id").await;
    assert_eq!(ids(&rows), vec!["9", "10"]);
    assert!(
        mock.hits("/next")[before..]
            .iter()
            .all(|r| !r.contains("since"))
    );

    // Unknown options are refused with the list of known ones.
    let e = fails(
        &c,
        &format!("CREATE EXTERNAL TABLE typo STORED AS REST LOCATION '{base}/next' OPTIONS ('recods' '$.data')"),
    )
    .await;
    assert!(
        e.starts_with("22023") && e.contains("recods") && e.contains("next_page"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_retries_auth_and_refused_redirects() {
    let (base, mock) = start_mock().await;
    let (_tmp, server) = start_voidx().await;
    let c = server.client().await;

    // 429 (Retry-After: 1) then 503 then 200.
    run(
        &c,
        &format!("CREATE EXTERNAL TABLE flaky (id BIGINT) STORED AS REST LOCATION '{base}/flaky' OPTIONS ('retries' '3')"),
    )
    .await;
    let started = std::time::Instant::now();
    let rows = query_text(&c, "SELECT id FROM flaky ORDER BY id").await;
    assert_eq!(ids(&rows), vec!["1", "2"]);
    assert_eq!(mock.flaky_hits.load(Ordering::SeqCst), 3);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "Retry-After honoured"
    );

    // A header from the server's environment; its value never shows.
    run(
        &c,
        &format!(
            "CREATE EXTERNAL TABLE secure STORED AS REST LOCATION '{base}/secure' \
             OPTIONS ('records' '$.items', 'header.X-Api-Key' 'env:SOURCES_TEST_API_KEY')"
        ),
    )
    .await;
    assert_eq!(
        query_text(&c, "SELECT ok, n FROM secure").await,
        vec![vec!["t", "1"]]
    );
    run(
        &c,
        &format!(
            "CREATE EXTERNAL TABLE unset_key (ok BOOLEAN) STORED AS REST LOCATION '{base}/secure' \
             OPTIONS ('records' '$.items', 'header.x-api-key' 'env:SOURCES_TEST_UNSET_KEY')"
        ),
    )
    .await;
    let e = fails(&c, "SELECT * FROM unset_key").await;
    assert!(
        e.contains("SOURCES_TEST_UNSET_KEY") && e.contains("[hint: set"),
        "{e}"
    );
    run(
        &c,
        &format!(
            "CREATE EXTERNAL TABLE wrong_key (ok BOOLEAN) STORED AS REST LOCATION '{base}/secure' \
             OPTIONS ('records' '$.items', 'header.x-api-key' 'hunter2-wrong')"
        ),
    )
    .await;
    let e = fails(&c, "SELECT * FROM wrong_key").await;
    assert!(
        e.contains("401") && e.contains("missing or wrong API key"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");

    // A redirect to a host outside the allowlist.
    let e = fails(
        &c,
        &format!("CREATE EXTERNAL TABLE redir STORED AS REST LOCATION '{base}/redirect'"),
    )
    .await;
    assert!(
        e.starts_with("42501") && e.contains("blocked.example"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_market_table() {
    let (base, _mock) = start_mock().await;
    let (_tmp, server) = start_voidx().await;
    let c = server.client().await;
    run(
        &c,
        &format!("CREATE EXTERNAL TABLE market STORED AS HTML LOCATION '{base}/market' OPTIONS ('selector' 'table#quotes')"),
    )
    .await;
    let rows = query_text(
        &c,
        "SELECT \"Company\", \"Price (USD)\", \"Change\", \"Volume\", \"Note\", \
                arrow_typeof(\"Price (USD)\"), arrow_typeof(\"Volume\") \
         FROM market ORDER BY \"Company\"",
    )
    .await;
    let want = [
        [
            "Acme Corp [1]",
            "1234.5",
            "5.2",
            "12345678",
            "NULL",
            "Float64",
            "Int64",
        ],
        ["Globex", "98.1", "-1.5", "2500", "NULL", "Float64", "Int64"],
        ["Initech", "7.0", "0", "300", "halted", "Float64", "Int64"],
    ];
    assert_eq!(rows, want.map(|r| r.map(String::from).to_vec()).to_vec());

    // Declared columns override inference (matched by name).
    run(
        &c,
        &format!(
            "CREATE EXTERNAL TABLE market_declared (company TEXT, volume DOUBLE) STORED AS HTML \
             LOCATION '{base}/market' OPTIONS ('selector' '#quotes')"
        ),
    )
    .await;
    let rows = query_text(
        &c,
        "SELECT sum(volume), arrow_typeof(sum(volume)) FROM market_declared",
    )
    .await;
    assert_eq!(
        rows,
        vec![vec!["12348478.0".to_string(), "Float64".to_string()]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_allowlist_refuses_loopback() {
    let (base, mock) = start_mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let c = server.client().await;
    for sql in [
        format!(
            "CREATE EXTERNAL TABLE t STORED AS REST LOCATION '{base}/next' OPTIONS ('records' '$.data')"
        ),
        format!("CREATE EXTERNAL TABLE h STORED AS HTML LOCATION '{base}/market'"),
    ] {
        let e = fails(&c, &sql).await;
        assert!(
            e.starts_with("42501") && e.contains("ingest.allowed_hosts"),
            "{e}"
        );
    }
    assert!(mock.requests.lock().unwrap().is_empty());
}
