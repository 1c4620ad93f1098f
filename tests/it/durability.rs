//! Durability under faults and load: no statement can take a session down,
//! concurrent writers never fail, and a crash at a commit boundary leaves
//! exactly-once outcomes after a restart.

use crate::common::{Server, describe_error, query_text};

/// Statements with extreme arguments: each must fail (or succeed) alone,
/// with a SQLSTATE, and leave the session usable.
const EXTREME: &[&str] = &[
    "SELECT * FROM vacuum('shop.t', 99999999999999999)",
    "SELECT * FROM vacuum('shop.t', 9223372036854775807)",
    "SELECT * FROM vacuum('shop.t', -9223372036854775808)",
    "SELECT * FROM vacuum('shop.t', 1e300)",
    "SELECT * FROM vacuum('shop.t', NULL)",
    "SELECT * FROM table_at('shop.t', 9223372036854775807)",
    "SELECT * FROM table_at('shop.t', -1)",
    "SELECT * FROM table_history('shop.t')",
    "SELECT * FROM deploy('m', 9223372036854775807)",
    "SELECT * FROM deploy('m', -9223372036854775808)",
    "SELECT * FROM rollback('m')",
    "SELECT * FROM ab_split('m', '{\"1\": 1e308, \"2\": -1e308}')",
    "SELECT * FROM ab_split('m', '{\"99999999999999999999\": 1}')",
    "SELECT * FROM train('m', 'SELECT a AS x, a AS y FROM shop.t', 'y', '{\"n_estimators\": 1e300, \"cv_folds\": 99999999999999999999}')",
    "SELECT * FROM train('m', 'SELECT a AS x, a AS y FROM shop.t', 'y', '{\"max_depth\": -9223372036854775808, \"learning_rate\": 1e-320}')",
    "SELECT * FROM train('m', 'SELECT a AS x, a AS y FROM shop.t', 'y', '{\"search\": {\"trials\": 18446744073709551615}}')",
    "SELECT * FROM ingest('shop.t', 'SELECT 1 AS a', '{\"max_rows\": 18446744073709551615, \"batch_size\": -1}')",
    "SELECT * FROM create_job('j', 'SELECT 1', '{\"every\": \"99999999999999999999h\", \"retries\": 1e300}')",
    "SELECT * FROM create_alert('al', 'SELECT 1', '{\"every\": \"-1s\", \"repeat\": \"999999999999999999999d\"}')",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_arguments_never_drop_the_session() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let c = server.client().await;
    c.batch_execute("CREATE SCHEMA shop; CREATE TABLE shop.t (a BIGINT); INSERT INTO shop.t VALUES (1), (2), (3)")
        .await
        .unwrap();
    for sql in EXTREME {
        let started = std::time::Instant::now();
        // Simple protocol, then extended (tokio-postgres' query() parses,
        // binds and executes, so planning runs in the Parse step).
        let simple = c.simple_query(sql).await;
        let extended = c.query(*sql, &[]).await;
        for outcome in [simple.err(), extended.err()].into_iter().flatten() {
            let text = describe_error(&outcome);
            assert!(
                outcome.as_db_error().is_some(),
                "{sql}: the connection broke: {text}"
            );
            assert!(
                !text.starts_with("XX000"),
                "{sql}: a panic got through: {text}"
            );
        }
        assert_eq!(query_text(&c, "SELECT 1").await, vec![vec!["1"]], "{sql}");
        eprintln!("{:>6} ms  {sql}", started.elapsed().as_millis());
    }
    let e = c
        .simple_query("SELECT * FROM vacuum('shop.t', 99999999999999999)")
        .await
        .unwrap_err();
    let text = describe_error(&e);
    assert!(
        text.starts_with("22023") && text.contains("[hint: "),
        "{text}"
    );
    // Nothing was vacuumed away: time travel to the first version still works.
    assert_eq!(
        query_text(&c, "SELECT count(*) FROM table_at('shop.t', 1)").await,
        vec![vec!["3"]]
    );
    assert!(
        !server.log_text().contains("panicked"),
        "{}",
        server.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_statement_fails_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("data"),
        &[],
        &[("VOIDXTEST_FAILPOINTS", "none=error")],
    );
    let c = server.client().await;
    for _ in 0..2 {
        // the panic happens while the result stream is polled
        let e = c
            .simple_query("SELECT voidx_panic(CAST(a AS VARCHAR)) FROM (VALUES (1), (2)) AS v(a)")
            .await
            .unwrap_err();
        let text = describe_error(&e);
        assert!(text.starts_with("XX000"), "{text}");
        let e = c.query("SELECT voidx_panic('x')", &[]).await.unwrap_err();
        assert!(describe_error(&e).starts_with("XX000"), "{e}");
        assert_eq!(query_text(&c, "SELECT 1").await, vec![vec!["1"]]);
    }
    let log = server.log_text();
    assert!(
        log.contains("statement panicked") && log.contains("voidx_panic"),
        "{log}"
    );
}

/// 8 connections × 50 single-row INSERTs into one table: every insert is
/// acknowledged and every acknowledged row is there, in versions without gaps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_inserts_all_commit() {
    const WRITERS: i64 = 8;
    const EACH: i64 = 50;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let c = server.client().await;
    c.batch_execute("CREATE SCHEMA shop; CREATE TABLE shop.events (writer BIGINT, n BIGINT)")
        .await
        .unwrap();
    let first_version: i64 =
        query_text(&c, "SELECT max(version) FROM table_history('shop.events')").await[0][0]
            .parse()
            .unwrap();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let client = server.client().await;
        tasks.push(tokio::spawn(async move {
            let mut errors = Vec::new();
            for n in 0..EACH {
                // half simple protocol, half extended with parameters
                let result = if n % 2 == 0 {
                    client
                        .simple_query(&format!("INSERT INTO shop.events VALUES ({w}, {n})"))
                        .await
                        .map(|_| ())
                } else {
                    client
                        .execute("INSERT INTO shop.events VALUES ($1, $2)", &[&w, &n])
                        .await
                        .map(|_| ())
                };
                if let Err(e) = result {
                    errors.push(describe_error(&e));
                }
            }
            errors
        }));
    }
    let mut errors = Vec::new();
    for t in tasks {
        errors.extend(t.await.unwrap());
    }
    assert!(
        errors.is_empty(),
        "{} failed inserts: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    let total = WRITERS * EACH;
    assert_eq!(
        query_text(
            &c,
            "SELECT count(*), count(DISTINCT writer * 1000 + n) FROM shop.events"
        )
        .await,
        vec![vec![total.to_string(), total.to_string()]]
    );
    // One commit per insert, and versions contiguous; the table's automatic
    // compactions (one per `storage.compact_every` small files) are commits
    // of their own between them.
    let history = query_text(
        &c,
        &format!(
            "SELECT count(*) FILTER (WHERE operation = 'WRITE'), \
                    count(*) FILTER (WHERE operation NOT IN ('WRITE', 'OPTIMIZE')), \
                    count(*), min(version), max(version) \
             FROM table_history('shop.events') WHERE version > {first_version}"
        ),
    )
    .await;
    let row = &history[0];
    assert_eq!(row[0], total.to_string(), "{history:?}");
    assert_eq!(row[1], "0", "{history:?}");
    let (commits, min, max): (i64, i64, i64) = (
        row[2].parse().unwrap(),
        row[3].parse().unwrap(),
        row[4].parse().unwrap(),
    );
    assert_eq!(min, first_version + 1, "{history:?}");
    assert_eq!(max - min + 1, commits, "versions with gaps: {history:?}");
}
