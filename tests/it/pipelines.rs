//! `sql/pipelines/` end to end, as a user runs it: REST orders (next-link
//! pages, watermark pushed down as `updated_since`), an HTML price page and
//! PostgreSQL customers, loaded into Delta by `voidx sql -v … -f …` three
//! times; bad rows quarantined and every run recorded.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use serde_json::{Value, json};

use crate::common::voidx_sql;
use crate::pg_server::PgServer;

#[derive(Default)]
struct Shop {
    /// (order_id, amount, status, updated_at)
    orders: Mutex<Vec<(i64, f64, &'static str, String)>>,
    since_seen: Mutex<Vec<String>>,
}

async fn orders(
    State(shop): State<Arc<Shop>>,
    Query(q): Query<HashMap<String, String>>,
) -> axum::Json<Value> {
    let since = q.get("updated_since").cloned();
    if let Some(s) = &since {
        shop.since_seen.lock().unwrap().push(s.clone());
    }
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let rows: Vec<Value> = shop
        .orders
        .lock()
        .unwrap()
        .iter()
        .filter(|o| since.as_ref().is_none_or(|s| o.3.as_str() > s.as_str()))
        .map(|o| {
            json!({"order_id": o.0, "customer_id": format!("c{}", o.0 % 3), "amount": o.1,
                   "status": o.2, "updated_at": o.3})
        })
        .collect();
    let chunk: Vec<Value> = rows.iter().skip(page * 2).take(2).cloned().collect();
    let next = if (page + 1) * 2 < rows.len() {
        let mut next = format!("/orders?page={}", page + 1);
        if let Some(s) = &since {
            next.push_str(&format!("&updated_since={s}"));
        }
        Value::String(next)
    } else {
        Value::Null
    };
    axum::Json(json!({"data": chunk, "next": next}))
}

async fn prices() -> Html<&'static str> {
    Html(
        r#"<html><body><table id="prices"><thead><tr><th>Product</th><th>Price (EUR)</th><th>Change</th></tr></thead>
        <tbody><tr><td>Widget</td><td>1,299.50</td><td>+2.5%</td></tr>
        <tr><td>Gadget</td><td>89.90</td><td>-1.0%[1]</td></tr></tbody></table></body></html>"#,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_pipeline_loads_three_sources_incrementally() {
    let shop = Arc::new(Shop::default());
    *shop.orders.lock().unwrap() = vec![
        (1, 10.0, "paid", "2026-01-01T10:00:00".into()),
        (2, 20.0, "shipped", "2026-01-01T11:00:00".into()),
        (3, 30.0, "paid", "2026-01-01T12:00:00".into()),
    ];
    let app = Router::new()
        .route("/orders", get(orders))
        .route("/prices.html", get(prices))
        .with_state(Arc::clone(&shop));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let pg = PgServer::start();
    let db = pg.client().await;
    db.batch_execute(
        "CREATE USER shop_reader PASSWORD 'reader-secret';
         CREATE TABLE customers (customer_id text PRIMARY KEY, name text, country text, updated_at timestamp);
         INSERT INTO customers VALUES ('c0', 'Ada', 'DE', '2026-01-01'), ('c1', 'Bo', 'FR', '2026-01-01'),
                                      ('c2', 'Cy', 'NL', '2026-01-01');
         GRANT SELECT ON customers TO shop_reader;",
    )
    .await
    .unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let env = [
        ("VOIDX_INGEST__ALLOWED_HOSTS", "127.0.0.1"),
        ("SHOP_DB_PASSWORD", "reader-secret"),
        ("VOIDX_INGEST__SECRET_ENV", "SHOP_DB_PASSWORD"),
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/pipelines");
    let orders_url = format!("http://127.0.0.1:{port}/orders");
    let market_url = format!("http://127.0.0.1:{port}/prices.html");
    let shop_db = pg.url("shop_reader");
    let file = |f: &str| root.join(f).display().to_string();
    voidx_sql(
        &data,
        &env,
        &[
            "-v",
            &format!("orders_url={orders_url}"),
            "-v",
            &format!("market_url={market_url}"),
            "-v",
            &format!("shop_db={shop_db}"),
            "-f",
            &file("00_sources.sql"),
        ],
    );
    // The database password is read from the environment, never stored.
    let catalog = voidx_sql(&data, &env, &["-c", "SELECT definition FROM voidx.catalog"]);
    assert!(!catalog.contains("reader-secret"), "{catalog}");

    // Run 1: everything.
    let out = voidx_sql(&data, &env, &["-f", &file("10_load.sql")]);
    assert!(!out.contains("failed"), "{out}");
    voidx_sql(&data, &env, &["-f", &file("20_rules.sql")]);

    // Run 2: one changed order, one new order, one breaking a rule.
    shop.orders.lock().unwrap().extend([
        (2, 25.0, "shipped", "2026-01-02T09:00:00".into()),
        (4, 40.0, "paid", "2026-01-02T10:00:00".into()),
        (5, -1.0, "paid", "2026-01-02T11:00:00".into()),
    ]);
    shop.orders.lock().unwrap().remove(1);
    db.batch_execute("INSERT INTO customers VALUES ('c3', 'Di', 'BE', '2026-01-02')")
        .await
        .unwrap();
    voidx_sql(&data, &env, &["-f", &file("10_load.sql")]);
    // Run 3: nothing new.
    voidx_sql(&data, &env, &["-f", &file("10_load.sql")]);

    // The watermark reached the API as a query parameter.
    let since = shop.since_seen.lock().unwrap().clone();
    assert!(
        since.iter().any(|s| s.starts_with("2026-01-01T12:00:00")),
        "{since:?}"
    );

    let report = voidx_sql(
        &data,
        &env,
        &[
            "-c",
            "SELECT order_id, amount FROM raw.orders ORDER BY order_id;
             SELECT order_id, _rule FROM raw.orders__quarantine;
             SELECT count(*) AS customers FROM raw.customers;
             SELECT \"Product\", \"Price (EUR)\" FROM raw.market_prices ORDER BY 1;
             SELECT target, status, rows_read, rows_written, rows_quarantined
               FROM voidx.ingest_runs ORDER BY started_at;",
        ],
    );
    for expected in [
        "25", // order 2 updated
        "40",
        "check:amount_not_negative",
        "1299.5",
        "Widget",
    ] {
        assert!(report.contains(expected), "missing {expected}:\n{report}");
    }
    assert!(!report.contains("| -1"), "{report}");
    let runs = report
        .lines()
        .filter(|l| {
            l.contains("raw.orders")
                || l.contains("raw.customers")
                || l.contains("raw.market_prices")
        })
        .count();
    assert!(runs >= 9, "three runs of three loads:\n{report}");
    assert!(!report.contains("failed"), "{report}");
}
