//! `ingest(...)`: merge + watermark over three runs, quarantine by CHECK
//! constraints / NOT NULL / key uniqueness / types, whole-batch failures
//! that commit nothing, the run log, a crash before the data commit of a
//! large load, and python
//! `deltalake` reading every table written.

use axum::Router;
use axum::routing::get;
use serde_json::json;

use crate::common::{Server, crash_at, describe_error, exec, http_fixture, query_text, run_python};

/// One ingest call → (status, rows_read, rows_written, rows_quarantined, watermark_after).
async fn ingest(
    c: &tokio_postgres::Client,
    target: &str,
    query: &str,
    options: &str,
) -> Vec<String> {
    let sql = format!(
        "SELECT status, rows_read, rows_written, rows_quarantined, watermark_after \
         FROM ingest('{target}', '{}', '{options}')",
        query.replace('\'', "''")
    );
    query_text(c, &sql).await.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_with_watermark_over_three_runs_and_quarantine() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data);
    let c = server.client().await;
    exec(
        &c,
        "CREATE SCHEMA src;
         CREATE TABLE src.orders (order_id BIGINT, customer VARCHAR, amount DOUBLE, updated_at TIMESTAMP);
         INSERT INTO src.orders VALUES
           (1, 'a', 10.0, TIMESTAMP '2026-01-01 10:00:00'),
           (2, 'b', 20.0, TIMESTAMP '2026-01-01 11:00:00'),
           (3, 'c', 30.0, TIMESTAMP '2026-01-01 12:00:00');
         CREATE SCHEMA raw;",
    )
    .await;
    let options = r#"{"mode":"merge","key":"order_id","watermark":"updated_at"}"#;
    let q = "SELECT * FROM src.orders";

    // Run 1 creates the table and loads everything.
    let r = ingest(&c, "raw.orders", q, options).await;
    assert_eq!(r[..4], ["success", "3", "3", "0"], "{r:?}");
    assert_eq!(r[4], "2026-01-01T12:00:00");

    // Quality rule: a Delta CHECK constraint on the target.
    exec(
        &c,
        "ALTER TABLE raw.orders ADD CONSTRAINT amount_ok CHECK (amount >= 0)",
    )
    .await;
    let err = c
        .simple_query("ALTER TABLE raw.orders ADD CONSTRAINT too_big CHECK (amount > 15)")
        .await
        .unwrap_err();
    assert!(
        describe_error(&err).starts_with("23514"),
        "{}",
        describe_error(&err)
    );

    // Run 2: one update (newer), one new row, one bad amount, one duplicate
    // key (the newest wins), one NULL key, and an old row below the mark.
    exec(
        &c,
        "INSERT INTO src.orders VALUES
           (2, 'b', 25.0, TIMESTAMP '2026-01-02 09:00:00'),
           (4, 'd', 40.0, TIMESTAMP '2026-01-02 10:00:00'),
           (5, 'e', -5.0, TIMESTAMP '2026-01-02 11:00:00'),
           (4, 'd', 41.0, TIMESTAMP '2026-01-02 12:00:00'),
           (NULL, 'x', 1.0, TIMESTAMP '2026-01-02 12:30:00'),
           (9, 'old', 1.0, TIMESTAMP '2025-12-31 00:00:00');",
    )
    .await;
    let r = ingest(&c, "raw.orders", q, options).await;
    // Only the 5 rows above the watermark were read.
    assert_eq!(r[..4], ["success", "5", "2", "3"], "{r:?}");
    assert_eq!(r[4], "2026-01-02T12:30:00");
    assert_eq!(
        query_text(
            &c,
            "SELECT order_id, amount FROM raw.orders ORDER BY order_id"
        )
        .await,
        vec![
            vec!["1", "10.0"],
            vec!["2", "25.0"],
            vec!["3", "30.0"],
            vec!["4", "41.0"]
        ]
    );
    assert_eq!(
        query_text(
            &c,
            "SELECT order_id, _rule FROM raw.orders__quarantine ORDER BY _rule"
        )
        .await,
        vec![
            vec!["5", "check:amount_ok"],
            vec!["NULL", "key_not_null"],
            vec!["4", "unique_key"]
        ]
    );

    // Run 3: nothing new → nothing read, watermark unchanged.
    let r = ingest(&c, "raw.orders", q, options).await;
    assert_eq!(r, ["success", "0", "0", "0", "2026-01-02T12:30:00"]);

    // A batch that fails as a whole (a new column in strict mode) commits
    // nothing and leaves the watermark where it was.
    let version_before = query_text(
        &c,
        "SELECT version FROM voidx.tables WHERE schema = 'raw' AND name = 'orders'",
    )
    .await;
    exec(
        &c,
        "CREATE TABLE src.orders2 AS SELECT *, 'web' AS channel FROM src.orders;
         INSERT INTO src.orders2 VALUES (6, 'f', 60.0, TIMESTAMP '2026-01-03 00:00:00', 'app');",
    )
    .await;
    let err = c
        .simple_query(&format!(
            "SELECT * FROM ingest('raw.orders', 'SELECT * FROM src.orders2', '{options}')"
        ))
        .await
        .unwrap_err();
    let message = describe_error(&err);
    assert!(message.starts_with("22023"), "{message}");
    assert!(
        message.contains("channel") && message.contains("schema_mode"),
        "{message}"
    );
    assert_eq!(
        query_text(
            &c,
            "SELECT version FROM voidx.tables WHERE schema = 'raw' AND name = 'orders'"
        )
        .await,
        version_before
    );
    // With "ignore" the column is dropped and the run goes through.
    let r = ingest(
        &c,
        "raw.orders",
        "SELECT * FROM src.orders2",
        r#"{"mode":"merge","key":"order_id","watermark":"updated_at","schema_mode":"ignore"}"#,
    )
    .await;
    assert_eq!(r[..4], ["success", "1", "1", "0"], "{r:?}");

    // Every run is recorded, the failed one with its error.
    let runs = query_text(
        &c,
        "SELECT status, rows_read, watermark_before, watermark_after, error IS NULL \
         FROM voidx.ingest_runs ORDER BY started_at",
    )
    .await;
    assert_eq!(runs.len(), 5, "{runs:?}");
    assert_eq!(runs[0][..3], ["success", "3", "NULL"]);
    assert_eq!(runs[3][0], "failed");
    assert_eq!(runs[3][2], runs[3][3], "a failed run keeps the watermark");
    assert_eq!(runs[3][4], "f");

    // Bad calls are clear errors.
    for (sql, state) in [
        (
            "SELECT * FROM ingest('raw.orders', 'SELECT 1', '{\"mode\":\"upsert\"}')",
            "22023",
        ),
        (
            "SELECT * FROM ingest('raw.orders', 'SELECT 1', '{\"mode\":\"merge\"}')",
            "22023",
        ),
        ("SELECT * FROM ingest('voidx.models', 'SELECT 1')", "42501"),
        (
            "SELECT * FROM ingest('raw.x', 'DROP TABLE raw.orders')",
            "22023",
        ),
    ] {
        let err = c.simple_query(sql).await.unwrap_err();
        assert!(
            describe_error(&err).starts_with(state),
            "{sql}: {}",
            describe_error(&err)
        );
    }
    assert_eq!(
        query_text(&c, "SELECT count(*) FROM raw.orders").await,
        vec![vec!["5"]]
    );

    // Any Delta reader sees the same tables.
    let script = r#"
import sys, deltalake
for path in sys.argv[1:]:
    print(path, file=sys.stderr, flush=True)
    t = deltalake.DeltaTable(path)
    print(t.to_pyarrow_table().num_rows, flush=True)
# pyarrow's and deltalake's thread pools can abort at interpreter exit.
import os
os._exit(0)
"#;
    let locations = query_text(
        &c,
        "SELECT location FROM voidx.tables WHERE schema = 'raw' ORDER BY name",
    )
    .await;
    let mut args: Vec<String> = locations.into_iter().map(|r| r[0].clone()).collect();
    args.push(data.join("voidx/ingest_runs").display().to_string());
    let counts: Vec<String> = run_python(script, &args, &[])
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(counts, ["5", "3", "6"], "orders, quarantine, runs");
}

/// NULLs for NOT NULL target columns, from a REST source and from a SQL
/// expression, are quarantined with the rule and reason, not a failed run
/// (they used to fail the whole run with XX000: the aligned batch was built
/// with the target's non-nullable fields before the NOT NULL check ran).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nulls_in_not_null_columns_are_quarantined() {
    async fn orders() -> axum::Json<serde_json::Value> {
        axum::Json(json!({"data": [
            {"id": 1, "amount": 10.0, "note": "a"},
            {"id": 2, "amount": null, "note": "b"},
            {"id": null, "amount": 3.0, "note": "c"},
            {"id": 4, "amount": "n/a", "note": null},
            {"id": 5, "amount": 5.0, "note": null},
        ]}))
    }
    let base = http_fixture(Router::new().route("/orders", get(orders))).await;
    let (_tmp, server) = Server::start_temp(&[("VOIDX_INGEST__ALLOWED_HOSTS", "127.0.0.1")]);
    let c = server.client().await;
    exec(
        &c,
        &format!(
            "CREATE EXTERNAL TABLE api (id BIGINT, amount VARCHAR, note VARCHAR) STORED AS REST \
             LOCATION '{base}/orders' OPTIONS ('records' '$.data');
             CREATE SCHEMA raw;
             CREATE TABLE raw.orders (id BIGINT NOT NULL, amount DOUBLE NOT NULL, note VARCHAR);"
        ),
    )
    .await;
    let r = ingest(&c, "raw.orders", "SELECT * FROM api", "{}").await;
    assert_eq!(r[..4], ["success", "5", "2", "3"], "{r:?}");
    assert_eq!(
        query_text(&c, "SELECT id, amount, note FROM raw.orders ORDER BY id").await,
        [["1", "10.0", "a"], ["5", "5.0", "NULL"]]
    );
    assert_eq!(
        query_text(
            &c,
            "SELECT note, _rule, _reason FROM raw.orders__quarantine ORDER BY _rule"
        )
        .await,
        [
            [
                "b",
                "not_null:amount",
                "column amount is NULL but NOT NULL in raw.orders"
            ],
            [
                "c",
                "not_null:id",
                "column id is NULL but NOT NULL in raw.orders"
            ],
            [
                "NULL",
                "type:amount",
                "'n/a' is not a valid Float64 for column amount"
            ],
        ]
    );
    // The same from a query whose column is NULL in every row.
    let r = ingest(
        &c,
        "raw.orders",
        "SELECT 7 AS id, CAST(NULL AS DOUBLE) AS amount, 'q' AS note",
        "{}",
    )
    .await;
    assert_eq!(r[..4], ["success", "1", "0", "1"], "{r:?}");
    let runs = query_text(
        &c,
        "SELECT status, rows_written, rows_quarantined FROM voidx.ingest_runs ORDER BY started_at",
    )
    .await;
    assert_eq!(runs, [["success", "2", "3"], ["success", "0", "1"]]);
}

/// The process dies in the middle of a large load — its rows read and
/// checked, its data files not yet committed (the `ingest.before_data_commit`
/// failpoint exits the process as kill -9 would, at exactly that boundary):
/// after restart the target is at its last committed version, never
/// half-written, and the next load goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_ingest_leaves_a_committed_version() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    {
        let server = Server::start(&data);
        let c = server.client().await;
        exec(
            &c,
            "CREATE SCHEMA raw;
             SELECT * FROM ingest('raw.events', 'SELECT 0 AS id, 0.0 AS v', '{}');",
        )
        .await;
    }
    crash_at(
        &data,
        &[],
        "ingest.before_data_commit",
        "SELECT * FROM ingest('raw.events', \
         'SELECT value AS id, random() AS v FROM generate_series(1, 200000)', '{}')",
    )
    .await;
    let server = Server::start(&data);
    let c = server.client().await;
    let n: i64 = query_text(&c, "SELECT count(*) FROM raw.events").await[0][0]
        .parse()
        .unwrap();
    assert_eq!(n, 1, "half-written table");
    // The table still takes loads.
    let r = ingest(&c, "raw.events", "SELECT 7 AS id, 1.0 AS v", "{}").await;
    assert_eq!(r[..3], ["success", "1", "1"]);
}
