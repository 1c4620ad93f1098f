//! `ingest` exactly once under faults: the server crashes (a failpoint
//! exits the process, as kill -9 would) at each commit boundary of a run
//! with good rows, quarantined rows and a watermark; after a restart on the
//! same data directory the same ingest is run again, and every source row
//! must be in the target or in the quarantine exactly once, the watermark
//! right, and `voidx.ingest_runs` must say what happened.
//! Also: the watermark found after more than 1,000 later commits, and a REST
//! source with more pages than `max_pages` failing instead of truncating.

use std::collections::HashMap;

use axum::Router;
use axum::extract::Query;
use axum::routing::get;
use serde_json::{Value, json};

use crate::common::{Server, crash_at, describe_error, exec, http_fixture, query_text, table_dir};

const INGEST: &str = r#"SELECT status, rows_read, rows_written, rows_quarantined, watermark_after FROM ingest('raw.ev', 'SELECT * FROM src.ev', '{"mode":"merge","key":"id","watermark":"ts"}')"#;

/// What the crashed run left, as the retry and the run log see it.
struct Expect {
    /// The crashed run's row in voidx.ingest_runs after the retry (None: no row).
    crashed_status: Option<&'static str>,
    /// rows_read, rows_written, rows_quarantined of the retry (4, 2, 2: the
    /// crashed run's rows are read again; 0, 0, 0: they were committed).
    retry: [&'static str; 3],
}

/// Crash at `point` during the second run, restart, retry, check exactly once.
async fn crash_then_retry(point: &str, expect: Expect) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    {
        let server = Server::start(&data);
        let c = server.client().await;
        exec(
            &c,
            "CREATE SCHEMA src; CREATE SCHEMA raw;
             CREATE TABLE src.ev (id BIGINT, amount DOUBLE, ts BIGINT);
             INSERT INTO src.ev VALUES (1, 1.0, 1), (2, 2.0, 2), (3, 3.0, 3);",
        )
        .await;
        let r = query_text(&c, INGEST).await;
        assert_eq!(r[0], ["success", "3", "3", "0", "3"], "first run");
        // Second run: two good rows (4 updated by a newer row), a NULL key
        // and an older duplicate of 4, which go to the quarantine.
        exec(
            &c,
            "INSERT INTO src.ev VALUES (4, 4.0, 4), (5, 5.0, 5), (NULL, 6.0, 6), (4, 7.0, 7);",
        )
        .await;
    }
    crash_at(&data, &[], point, INGEST).await;
    let server = Server::start(&data);
    let c = server.client().await;
    let retry = query_text(&c, INGEST).await;
    assert_eq!(
        retry[0],
        [
            "success",
            expect.retry[0],
            expect.retry[1],
            expect.retry[2],
            "7"
        ],
        "retry after a crash at {point}"
    );
    // Exactly once: 3 + 4 source rows = 5 in the target + 2 in the quarantine.
    assert_eq!(
        query_text(&c, "SELECT id, amount FROM raw.ev ORDER BY id").await,
        [
            ["1", "1.0"],
            ["2", "2.0"],
            ["3", "3.0"],
            ["4", "7.0"],
            ["5", "5.0"]
        ],
        "target after a crash at {point}"
    );
    assert_eq!(
        query_text(
            &c,
            "SELECT id, ts, _rule FROM raw.ev__quarantine ORDER BY ts"
        )
        .await,
        [["4", "4", "unique_key"], ["NULL", "6", "key_not_null"]],
        "quarantine after a crash at {point}"
    );
    // The log: the first run, the crashed one as resolved, the retry.
    let runs = query_text(
        &c,
        "SELECT status, rows_read, watermark_after FROM voidx.ingest_runs \
         WHERE target = 'raw.ev' ORDER BY started_at, status",
    )
    .await;
    let statuses: Vec<&str> = runs.iter().map(|r| r[0].as_str()).collect();
    let mut want = vec!["success"];
    want.extend(expect.crashed_status);
    want.push("success");
    assert_eq!(statuses, want, "runs after a crash at {point}: {runs:?}");
    if expect.crashed_status == Some("success") {
        assert_eq!(runs[1][1..], ["4", "7"], "the recovered record: {runs:?}");
    }
    // And the watermark goes on from 7.
    exec(&c, "INSERT INTO src.ev VALUES (6, 8.0, 8), (7, 0.5, 2)").await;
    let r = query_text(&c, INGEST).await;
    assert_eq!(
        r[0],
        ["success", "1", "1", "0", "8"],
        "after a crash at {point}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_before_state_commit() {
    crash_then_retry(
        "ingest.before_state_commit",
        Expect {
            crashed_status: None,
            retry: ["4", "2", "2"],
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_before_quarantine_commit() {
    crash_then_retry(
        "ingest.before_quarantine_commit",
        Expect {
            crashed_status: Some("interrupted"),
            retry: ["4", "2", "2"],
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_before_data_commit() {
    crash_then_retry(
        "ingest.before_data_commit",
        Expect {
            crashed_status: Some("interrupted"),
            retry: ["4", "2", "2"],
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_before_run_record() {
    crash_then_retry(
        "ingest.before_run_record",
        Expect {
            crashed_status: Some("success"),
            retry: ["0", "0", "0"],
        },
    )
    .await;
}

/// The first run crashes after creating its target, before any state:
/// the retry loads everything into the (empty) table it finds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_on_the_first_run_after_creating_the_target() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    {
        let server = Server::start(&data);
        let c = server.client().await;
        exec(
            &c,
            "CREATE SCHEMA src; CREATE SCHEMA raw;
             CREATE TABLE src.ev (id BIGINT, amount DOUBLE, ts BIGINT);
             INSERT INTO src.ev VALUES (1, 1.0, 1), (NULL, 2.0, 2), (3, 3.0, 3);",
        )
        .await;
    }
    crash_at(&data, &[], "ingest.before_quarantine_commit", INGEST).await;
    let server = Server::start(&data);
    let c = server.client().await;
    let r = query_text(&c, INGEST).await;
    assert_eq!(r[0], ["success", "3", "2", "1", "3"]);
    assert_eq!(
        query_text(&c, "SELECT count(*) FROM raw.ev__quarantine").await[0][0],
        "1"
    );
    let runs = query_text(
        &c,
        "SELECT status FROM voidx.ingest_runs ORDER BY started_at",
    )
    .await;
    assert_eq!(runs, [["interrupted"], ["success"]]);
}

/// The watermark lives in the target's snapshot, not in its history: more
/// than 1,000 commits after the last ingest, the next run still reads only
/// the new rows (it used to search the last 1,000 commits, then reload all).
/// The later commits are 120 INSERTs through the server (so the table has
/// been checkpointed and compacted since the ingest) and 1,000 empty commits
/// by another Delta writer — only their number matters, and writing them
/// as files takes milliseconds where 1,000 statements took minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watermark_survives_more_than_a_thousand_later_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data);
    let c = server.client().await;
    exec(
        &c,
        "CREATE SCHEMA src; CREATE SCHEMA raw;
         CREATE TABLE src.ev (id BIGINT, amount DOUBLE, ts BIGINT);
         INSERT INTO src.ev VALUES (1, 1.0, 1), (2, 2.0, 2), (3, 3.0, 3);",
    )
    .await;
    let r = query_text(&c, INGEST).await;
    assert_eq!(r[0], ["success", "3", "3", "0", "3"]);
    let inserts: String = (0..120)
        .map(|i| format!("INSERT INTO raw.ev VALUES ({}, 0.0, 0);", 1000 + i))
        .collect();
    exec(&c, &inserts).await;
    let version = |c: tokio_postgres::Client| async move {
        query_text(
            &c,
            "SELECT version FROM voidx.tables WHERE schema = 'raw' AND name = 'ev'",
        )
        .await[0][0]
            .parse::<i64>()
            .unwrap()
    };
    let before = version(server.client().await).await;
    assert!(before > 120, "only {before} commits");
    empty_commits(&data, "raw", "ev", before, 1000);
    let after = version(server.client().await).await;
    assert_eq!(after, before + 1000, "the server did not see the commits");
    exec(&c, "INSERT INTO src.ev VALUES (4, 4.0, 4)").await;
    let r = query_text(&c, INGEST).await;
    assert_eq!(r[0], ["success", "1", "1", "0", "4"], "reloaded everything");
}

/// `n` commits after `version` to the managed table `schema.name`, as
/// another Delta writer makes them: each a `_delta_log` file holding only
/// its `commitInfo` (no data changes).
fn empty_commits(data: &std::path::Path, schema: &str, name: &str, version: i64, n: i64) {
    let log = table_dir(data, schema, name).join("_delta_log");
    for v in version + 1..=version + n {
        let info = json!({"commitInfo": {
            "timestamp": 1_700_000_000_000i64 + v,
            "operation": "WRITE",
            "operationParameters": {"mode": "Append"},
            "engineInfo": "another-writer",
        }});
        std::fs::write(log.join(format!("{v:020}.json")), format!("{info}\n")).unwrap();
    }
}

/// A REST API with more pages than `max_pages` (or rows than `max_rows`):
/// the run fails with 54000 and a Help naming the option, commits nothing
/// and keeps the watermark; with the limit raised it reads everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_source_over_max_pages_fails_the_run() {
    async fn pages(Query(q): Query<HashMap<String, String>>) -> axum::Json<Value> {
        let page: i64 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let rows: Vec<Value> = (1..=2)
            .map(|i| {
                let id = (page - 1) * 2 + i;
                json!({"id": id, "ts": id})
            })
            .collect();
        let next = (page < 3).then(|| format!("/pages?page={}", page + 1));
        axum::Json(json!({"data": rows, "next": next}))
    }
    let base = http_fixture(Router::new().route("/pages", get(pages))).await;
    let (_tmp, server) = Server::start_temp(&[("VOIDX_INGEST__ALLOWED_HOSTS", "127.0.0.1")]);
    let c = server.client().await;
    let table = |name: &str, limit: &str| {
        format!(
            "CREATE EXTERNAL TABLE {name} (id BIGINT, ts BIGINT) STORED AS REST LOCATION '{base}/pages' \
             OPTIONS ('records' '$.data', 'next_page' '$.next', {limit})"
        )
    };
    exec(&c, &table("api2", "'max_pages' '2'")).await;
    exec(&c, &table("api_rows", "'max_rows' '5'")).await;
    exec(&c, &table("api9", "'max_pages' '9'")).await;
    exec(&c, "CREATE SCHEMA raw").await;
    let ingest = |source: &str| {
        format!(
            "SELECT status, rows_read, watermark_after FROM ingest('raw.api', 'SELECT * FROM {source}', '{{\"watermark\":\"ts\"}}')"
        )
    };
    for (source, option) in [("api2", "max_pages"), ("api_rows", "max_rows")] {
        let err = c.simple_query(&ingest(source)).await.unwrap_err();
        let message = describe_error(&err);
        assert!(
            message.starts_with("54000")
                && message.contains(option)
                && message.contains("[hint: raise"),
            "{message}"
        );
    }
    // A LIMIT within the limits is no truncation.
    assert_eq!(
        query_text(&c, "SELECT id FROM api2 LIMIT 3").await,
        [["1"], ["2"], ["3"]]
    );
    let runs = query_text(
        &c,
        "SELECT status, watermark_after FROM voidx.ingest_runs ORDER BY started_at",
    )
    .await;
    assert_eq!(runs, [["failed", "NULL"], ["failed", "NULL"]]);
    let r = query_text(&c, &ingest("api9")).await;
    assert_eq!(r[0], ["success", "6", "6"]);
}
