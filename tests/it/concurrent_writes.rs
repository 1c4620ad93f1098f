//! Concurrent writers of every kind at once: single-row INSERTs, `ingest`
//! runs of two HTTP sources (three connections per target) and `train` of one
//! model name from three connections. Whatever was acknowledged is there
//! exactly once, model versions are 1..N without gaps, and a statement that
//! fails does so with 40001 and a hint to retry.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::json;

use crate::common::{Server, describe_error, query_text};

const INSERTERS: i64 = 6;
const INSERTS: i64 = 15;
const INGESTERS_PER_TARGET: usize = 3;
const INGESTS: usize = 4;
const TRAINERS: usize = 3;
const TRAINS: usize = 2;
const ROWS_PER_GET: i64 = 5;

/// Every GET answers the next ROWS_PER_GET orders (ids unique over both
/// routes, `updated_at` one second per id), so each run has new rows.
async fn next_rows(State(next): State<Arc<AtomicI64>>) -> axum::Json<serde_json::Value> {
    let first = next.fetch_add(ROWS_PER_GET, Ordering::SeqCst);
    let rows: Vec<_> = (first..first + ROWS_PER_GET)
        .map(|id| {
            json!({
                "id": id,
                "updated_at": format!("2026-01-01T{:02}:{:02}:{:02}Z", id / 3600, id / 60 % 60, id % 60),
            })
        })
        .collect();
    axum::Json(json!({ "data": rows }))
}

async fn start_source() -> String {
    let next = Arc::new(AtomicI64::new(1));
    let app = Router::new()
        .route("/a", get(next_rows))
        .route("/b", get(next_rows))
        .with_state(next);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// An error is acceptable only as a retryable serialization failure.
fn check_retryable(what: &str, errors: &[String]) {
    for e in errors {
        assert!(
            e.starts_with("40001") && e.contains("[hint: "),
            "{what} failed with something other than 40001 + hint: {e}"
        );
    }
}

/// `2026-01-01T00:00:05.000000Z` and `2026-01-01 00:00:05` → `2026-01-01 00:00:05`.
fn to_second(ts: &str) -> String {
    ts.replace('T', " ").chars().take(19).collect()
}

fn single(rows: Vec<Vec<String>>) -> Vec<String> {
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows.into_iter().next().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_ingest_and_train_at_once() {
    let base = start_source().await;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("data"),
        &[],
        &[("VOIDX_INGEST__ALLOWED_HOSTS", "127.0.0.1")],
    );
    let c = server.client().await;
    c.batch_execute(&format!(
        "CREATE SCHEMA shop; CREATE SCHEMA raw;
         CREATE TABLE shop.events (writer BIGINT, n BIGINT);
         CREATE TABLE shop.d AS SELECT value AS id, CAST(value * 37 % 101 AS DOUBLE) AS x,
             CAST(value * 37 % 101 AS DOUBLE) * 2 + CAST(value % 7 AS DOUBLE) AS y
             FROM generate_series(1, 300);
         CREATE EXTERNAL TABLE src_a (id BIGINT, updated_at TIMESTAMP) STORED AS REST
             LOCATION '{base}/a' OPTIONS ('records' '$.data');
         CREATE EXTERNAL TABLE src_b (id BIGINT, updated_at TIMESTAMP) STORED AS REST
             LOCATION '{base}/b' OPTIONS ('records' '$.data');"
    ))
    .await
    .unwrap_or_else(|e| panic!("setup: {}", describe_error(&e)));

    let mut inserts = Vec::new();
    for w in 0..INSERTERS {
        let client = server.client().await;
        inserts.push(tokio::spawn(async move {
            let (mut acked, mut errors) = (Vec::new(), Vec::new());
            for n in 0..INSERTS {
                match client
                    .execute("INSERT INTO shop.events VALUES ($1, $2)", &[&w, &n])
                    .await
                {
                    Ok(_) => acked.push(w * 1000 + n),
                    Err(e) => errors.push(describe_error(&e)),
                }
            }
            (acked, errors)
        }));
    }
    let mut ingests = Vec::new();
    for target in ["a", "b"] {
        for _ in 0..INGESTERS_PER_TARGET {
            let client = server.client().await;
            ingests.push(tokio::spawn(async move {
                let sql = format!(
                    "SELECT run_id, status, rows_written FROM ingest('raw.{target}', \
                     'SELECT * FROM src_{target}', '{{\"watermark\": \"updated_at\"}}')"
                );
                let (mut acked, mut errors) = (Vec::new(), Vec::new());
                for _ in 0..INGESTS {
                    match client.simple_query(&sql).await {
                        Ok(messages) => {
                            for m in messages {
                                if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
                                    let cell = |i| r.get(i).unwrap_or_default().to_string();
                                    acked.push((target, cell(0), cell(1), cell(2)));
                                }
                            }
                        }
                        Err(e) => errors.push(describe_error(&e)),
                    }
                }
                (acked, errors)
            }));
        }
    }
    let mut trains = Vec::new();
    for _ in 0..TRAINERS {
        let client = server.client().await;
        trains.push(tokio::spawn(async move {
            let sql = "SELECT version FROM train('m', 'SELECT * FROM shop.d', 'y', \
                       '{\"id_columns\": [\"id\"], \"cv_folds\": 2, \"n_estimators\": 5}')";
            let (mut acked, mut errors) = (Vec::new(), Vec::new());
            for _ in 0..TRAINS {
                match client.query_one(sql, &[]).await {
                    Ok(row) => acked.push(row.get::<_, i64>(0)),
                    Err(e) => errors.push(describe_error(&e)),
                }
            }
            (acked, errors)
        }));
    }

    // INSERTs: every acknowledged row exactly once, nothing else.
    let (mut acked_rows, mut errors) = (BTreeSet::new(), Vec::new());
    for t in inserts {
        let (acked, errs) = t.await.unwrap();
        acked_rows.extend(acked);
        errors.extend(errs);
    }
    check_retryable("INSERT", &errors);
    let present: Vec<i64> = query_text(&c, "SELECT writer * 1000 + n FROM shop.events ORDER BY 1")
        .await
        .into_iter()
        .map(|r| r[0].parse().unwrap())
        .collect();
    assert_eq!(present, acked_rows.into_iter().collect::<Vec<_>>());

    // ingest: each successful run is recorded as such, its rows are there
    // once, and the current watermark is the newest row of the target.
    let (mut runs, mut errors) = (Vec::new(), Vec::new());
    for t in ingests {
        let (acked, errs) = t.await.unwrap();
        runs.extend(acked);
        errors.extend(errs);
    }
    check_retryable("ingest", &errors);
    for target in ["a", "b"] {
        let mine: Vec<_> = runs.iter().filter(|r| r.0 == target).collect();
        assert!(
            mine.iter().all(|r| r.2 == "success"),
            "an ingest answered without failing but not with success: {mine:?}"
        );
        assert!(!mine.is_empty(), "no ingest into raw.{target} succeeded");
        let acked_written: i64 = mine.iter().map(|r| r.3.parse::<i64>().unwrap()).sum();
        let [count, distinct, newest] = single(
            query_text(
                &c,
                &format!(
                    "SELECT count(*), count(DISTINCT id), CAST(max(updated_at) AS VARCHAR) FROM raw.{target}"
                ),
            )
            .await,
        )
        .try_into()
        .unwrap();
        assert_eq!(count, distinct, "raw.{target} has a duplicate row");
        assert_eq!(
            count,
            acked_written.to_string(),
            "raw.{target} rows vs acknowledged runs"
        );
        let recorded = query_text(
            &c,
            &format!(
                "SELECT run_id, status, rows_written FROM voidx.ingest_runs \
                 WHERE target = 'raw.{target}' AND status = 'success' ORDER BY run_id"
            ),
        )
        .await;
        let mut expected: Vec<Vec<String>> = mine
            .iter()
            .map(|r| vec![r.1.clone(), r.2.clone(), r.3.clone()])
            .collect();
        expected.sort();
        assert_eq!(recorded, expected, "voidx.ingest_runs of raw.{target}");
        // the latest successful run's mark is the newest row (runs into one
        // target take turns, so the marks only ever move forward)
        let marks = query_text(
            &c,
            &format!(
                "SELECT watermark_before, watermark_after FROM voidx.ingest_runs \
                 WHERE target = 'raw.{target}' AND status = 'success' ORDER BY delta_version"
            ),
        )
        .await;
        for pair in marks.windows(2) {
            assert_eq!(pair[0][1], pair[1][0], "marks of raw.{target}: {marks:?}");
        }
        let last = marks.last().map(|m| m[1].clone()).unwrap_or_default();
        assert_eq!(
            to_second(&last),
            to_second(&newest),
            "raw.{target}: newest row {newest}, current mark {last}"
        );
    }

    // train: versions 1..N once each, every acknowledged version registered,
    // and the registry tables name only registered versions.
    let (mut versions, mut errors) = (Vec::new(), Vec::new());
    for t in trains {
        let (acked, errs) = t.await.unwrap();
        versions.extend(acked);
        errors.extend(errs);
    }
    check_retryable("train", &errors);
    versions.sort();
    let n = versions.len() as i64;
    let distinct: BTreeSet<i64> = versions.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        versions.len(),
        "a version twice: {versions:?}"
    );
    // A training that failed keeps the number it reserved (never reused),
    // so only failures may leave gaps.
    let last = n + errors.len() as i64;
    assert!(
        versions.iter().all(|v| (1..=last).contains(v)),
        "versions {versions:?} beyond 1..={last}"
    );
    if errors.is_empty() {
        assert_eq!(
            versions,
            (1..=n).collect::<Vec<_>>(),
            "acknowledged versions"
        );
    }
    let registered: Vec<i64> = query_text(
        &c,
        "SELECT version FROM voidx.models WHERE name = 'm' ORDER BY version",
    )
    .await
    .into_iter()
    .map(|r| r[0].parse().unwrap())
    .collect();
    assert_eq!(registered, versions, "voidx.models");
    for (table, column) in [
        ("voidx.model_artifacts", "model"),
        ("voidx.feature_importance", "model"),
    ] {
        let orphans = query_text(
            &c,
            &format!(
                "SELECT DISTINCT version FROM {table} WHERE {column} = 'm' \
                 AND version NOT IN (SELECT version FROM voidx.models WHERE name = 'm')"
            ),
        )
        .await;
        assert!(orphans.is_empty(), "{table} names {orphans:?}");
    }
    assert_eq!(
        query_text(
            &c,
            "SELECT count(DISTINCT version), count(*) FROM voidx.model_artifacts WHERE model = 'm'"
        )
        .await,
        vec![vec![n.to_string(), n.to_string()]],
        "one artifact per version"
    );
    assert_eq!(
        query_text(
            &c,
            "SELECT count(*) FROM voidx.models WHERE name = 'm' AND stage = 'production'"
        )
        .await,
        vec![vec!["1".to_string()]]
    );
    let seqs = query_text(
        &c,
        "SELECT count(*), count(DISTINCT seq) FROM voidx.deployments WHERE model = 'm'",
    )
    .await;
    assert_eq!(seqs[0][0], seqs[0][1], "deployment seq reused: {seqs:?}");
    assert!(
        !server.log_text().contains("panicked"),
        "{}",
        server.log_text()
    );
}
