//! Everything acknowledged survives a restart and a kill -9; nothing
//! half-written ever becomes visible.

use crate::common::{Server, describe_error, query_text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_and_data_survive_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let csv = tmp.path().join("rates.csv");
    std::fs::write(&csv, "currency,rate\nEUR,1.08\nGBP,1.27\n").unwrap();
    // The CSV lies outside the data directory: allow the whole scratch dir.
    let dirs = tmp.path().display().to_string();
    let allow = [("VOIDX_INGEST__ALLOWED_DIRS", dirs.as_str())];
    let mut server = Server::start_with(&data, &[], &allow);
    let c = server.client().await;
    let setup = format!(
        "CREATE SCHEMA sales;
         CREATE TABLE sales.orders (id BIGINT NOT NULL, amount DOUBLE, note VARCHAR);
         INSERT INTO sales.orders VALUES (1, 10.5, 'a'), (2, 20.0, NULL);
         INSERT INTO sales.orders VALUES (3, 7.25, 'c');
         DELETE FROM sales.orders WHERE id = 2;
         UPDATE sales.orders SET amount = amount * 2 WHERE id = 3;
         CREATE TABLE sales.big AS SELECT id FROM sales.orders;
         CREATE VIEW sales.v_orders AS SELECT id, amount FROM sales.orders WHERE amount > 10;
         CREATE EXTERNAL TABLE sales.rates STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true');
         CREATE TABLE sales.tmp AS SELECT 1 AS x;
         ALTER TABLE sales.tmp RENAME TO kept;
         CREATE TABLE sales.gone AS SELECT 1 AS x;
         DROP TABLE sales.gone;",
        csv.display()
    );
    c.batch_execute(&setup)
        .await
        .unwrap_or_else(|e| panic!("{}", describe_error(&e)));
    drop(c);
    server.stop();

    let server = Server::start_with(&data, &[], &allow);
    let c = server.client().await;
    assert_eq!(
        query_text(&c, "SELECT id, amount, note FROM sales.orders ORDER BY id").await,
        vec![vec!["1", "10.5", "a"], vec!["3", "14.5", "c"]]
    );
    assert_eq!(
        query_text(&c, "SELECT count(*) FROM sales.big").await,
        vec![vec!["2"]]
    );
    assert_eq!(
        query_text(&c, "SELECT id FROM sales.v_orders ORDER BY id").await,
        vec![vec!["1"], vec!["3"]]
    );
    assert_eq!(
        query_text(&c, "SELECT currency FROM sales.rates ORDER BY 1").await,
        vec![vec!["EUR"], vec!["GBP"]]
    );
    assert_eq!(
        query_text(&c, "SELECT x FROM sales.kept").await,
        vec![vec!["1"]]
    );
    let err = c
        .simple_query("SELECT * FROM sales.gone")
        .await
        .unwrap_err();
    assert!(
        describe_error(&err).starts_with("42P01"),
        "{}",
        describe_error(&err)
    );
    let err = c.simple_query("SELECT * FROM sales.tmp").await.unwrap_err();
    assert!(
        describe_error(&err).starts_with("42P01"),
        "{}",
        describe_error(&err)
    );
    // Five commits: create, two inserts, delete, update.
    let history = query_text(
        &c,
        "SELECT version, operation FROM table_history('sales.orders') ORDER BY version",
    )
    .await;
    assert_eq!(history.len(), 5, "{history:?}");
    assert_eq!(
        query_text(&c, "SELECT count(*) FROM table_at('sales.orders', 1)").await,
        vec![vec!["2"]]
    );
}

/// Inserts of 1000 rows each run until the server is killed with SIGKILL.
/// After restart the table holds only whole inserts, and at least every
/// insert the server acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start(&data);
    let c = server.client().await;
    c.batch_execute("CREATE TABLE t (batch BIGINT, i BIGINT)")
        .await
        .unwrap();
    let acknowledged = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let ack = std::sync::Arc::clone(&acknowledged);
    let writer = tokio::spawn(async move {
        for batch in 0..10_000u64 {
            let sql = format!("INSERT INTO t SELECT {batch}, value FROM generate_series(1, 1000)");
            if c.simple_query(&sql).await.is_err() {
                break;
            }
            ack.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    // Let a few inserts land, then kill mid-stream.
    let started = std::time::Instant::now();
    while acknowledged.load(std::sync::atomic::Ordering::SeqCst) < 5
        && started.elapsed().as_secs() < 60
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(37)).await;
    server.kill9();
    let _ = writer.await;
    let acked = acknowledged.load(std::sync::atomic::Ordering::SeqCst);
    assert!(acked >= 5, "too few inserts before the kill");

    let server = Server::start(&data);
    let c = server.client().await;
    let rows = query_text(
        &c,
        "SELECT count(*), count(DISTINCT batch), min(batch), max(batch) FROM t",
    )
    .await;
    let count: u64 = rows[0][0].parse().unwrap();
    let batches: u64 = rows[0][1].parse().unwrap();
    assert_eq!(
        count,
        batches * 1000,
        "a partial insert is visible: {rows:?}"
    );
    assert!(
        batches >= acked,
        "acknowledged {acked} inserts but only {batches} survived"
    );
    assert!(
        batches <= acked + 1,
        "more inserts than were sent: {batches} > {acked} + 1"
    );
    let per_batch = query_text(
        &c,
        "SELECT batch FROM t GROUP BY batch HAVING count(*) <> 1000",
    )
    .await;
    assert!(per_batch.is_empty(), "partial batches: {per_batch:?}");
}

/// A CREATE TABLE AS killed mid-way leaves no table, or the whole table.
/// Killed at a random moment it could hit either side, or neither; so it is
/// killed at the two boundaries that decide: just before the catalog commit
/// (no table: `crash::crash_before_the_ctas_catalog_commit_leaves_no_table`)
/// and just after it (the whole table, here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_ctas_is_all_or_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    drop(Server::start(&data));
    let mut server = Server::start_with(
        &data,
        &[],
        &[("VOIDXTEST_FAILPOINTS", "catalog.after_commit=crash")],
    );
    let c = server.client().await;
    let outcome = c
        .simple_query(
            "CREATE TABLE big AS SELECT value AS i, value * 2 AS j FROM generate_series(1, 300000)",
        )
        .await;
    assert!(outcome.is_err(), "the CTAS should have been cut off");
    assert_eq!(server.wait_exit(), Some(137), "{}", server.log_text());
    let server = Server::start(&data);
    let c = server.client().await;
    assert_eq!(
        query_text(&c, "SELECT count(*), sum(j) FROM big").await,
        vec![vec![
            "300000".to_string(),
            (300_000i64 * 300_001).to_string()
        ]]
    );
}
