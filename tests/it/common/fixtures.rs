//! What tests start next to the server: HTTP sources and webhook receivers
//! on loopback, the demo training table, the model files of
//! `udfs/tests/fixtures/models`, and logins with roles.
//!
//! ```ignore
//! let base = http_fixture(Router::new().route("/pages", get(pages))).await;
//! exec(&c, &demo_table(400)).await;
//! exec(&c, &train_sql("m", "SELECT x1, x2, y FROM rows", "y", r#"{"n_estimators": 8}"#)).await;
//! ```

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Serves `app` on a free loopback port for the rest of the test; its base
/// URL, `http://127.0.0.1:<port>`.
pub async fn http_fixture(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the HTTP fixture");
    let base = format!("http://{}", listener.local_addr().expect("fixture address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

/// A webhook receiver on 127.0.0.1: its port and every POSTed body, in order.
pub async fn webhook_receiver() -> (u16, Arc<Mutex<Vec<serde_json::Value>>>) {
    use axum::routing::post;
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/hook",
        post(move |body: String| {
            let sink = Arc::clone(&sink);
            async move {
                let value = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
                sink.lock().unwrap().push(value);
                "ok"
            }
        }),
    );
    let base = http_fixture(app).await;
    let port = base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("fixture port");
    (port, received)
}

/// A one-line HTTP server on `host` (any address, not only 127.0.0.1):
/// every request gets `response`; requests are kept, lower-cased, so a test
/// can prove that nothing was sent.
pub struct Mock {
    pub port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Mock {
    pub fn start(host: &str, response: Vec<u8>) -> Mock {
        let listener = TcpListener::bind((host, 0)).expect("bind mock");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut buf = vec![0u8; 16 * 1024];
                let n = stream.read(&mut buf).unwrap_or(0);
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).to_lowercase());
                let _ = stream.write_all(&response);
            }
        });
        Mock { port, requests }
    }

    /// Answers every request with `body` as JSON.
    pub fn json(host: &str, body: &str) -> Mock {
        Mock::start(
            host,
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// `CREATE TABLE d` with `rows` rows of `id`, `x1`, `x2`: deterministic,
/// spread features the demo target `3 * x1 + x2² / 5 + id % 7` is learnable from.
pub fn demo_table(rows: usize) -> String {
    format!(
        "CREATE TABLE d AS
         SELECT value AS id,
                CAST(value * 37 % 101 AS DOUBLE) / 10.0 AS x1,
                CAST(value * 53 % 97 AS DOUBLE) / 10.0 AS x2
         FROM generate_series(1, {rows});"
    )
}

/// The demo target over table `d` (see [`demo_table`]), as a query with `y`.
pub const DEMO_TARGET: &str = "3 * x1 + x2 * x2 / 5 + CAST(id % 7 AS DOUBLE)";

/// `SELECT * FROM train(...)` with the query quoted for SQL.
pub fn train_sql(model: &str, query: &str, target: &str, options: &str) -> String {
    format!(
        "SELECT * FROM train('{model}', '{}', '{target}', '{}');",
        query.replace('\'', "''"),
        options.replace('\'', "''")
    )
}

/// A model file of `udfs/tests/fixtures/models` (exported by real libraries).
pub fn model_fixture(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("udfs/tests/fixtures/models")
        .join(file)
}

/// An admin `root` and an analyst `ann`, as server environment.
pub const ROOT_AND_ANALYST: [(&str, &str); 3] = [
    ("VOIDX_USERS__root", "root password"),
    ("VOIDX_USERS__ann__PASSWORD", "analyst password"),
    ("VOIDX_USERS__ann__ROLE", "analyst"),
];
