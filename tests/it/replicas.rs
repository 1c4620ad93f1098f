//! Two `voidx serve` processes over one data directory act as one service
//! (issue 18, docs/scale.md): DDL, model versions, deploys and jobs created
//! through one are seen through the other within `storage.refresh_ms`; DDL
//! and training through both at once lose nothing and never hand out one
//! version number twice; a scheduled job runs each slot once, on one of them.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{DEMO_TARGET, Http, Server, demo_table, exec, query_text, train_sql};

/// Refresh interval of the replicas in these tests.
const REFRESH_MS: &str = "200";
/// How long a change may take to show; the interval is 200 ms, the rest is
/// slack for a loaded CI machine.
const SEEN_WITHIN: Duration = Duration::from_secs(20);

/// Two servers over `dir`, started at the same moment (so both may try to
/// create the catalog and the system tables).
fn two_replicas(dir: &std::path::Path) -> (Server, Server) {
    let env = [("VOIDX_STORAGE__REFRESH_MS", REFRESH_MS)];
    let start = |name: &'static str| {
        let data = dir.join("data").display().to_string();
        let log = dir.join(format!("{name}.log"));
        std::thread::spawn(move || Server::start_at(&data, &log, &env))
    };
    let (a, b) = (start("a"), start("b"));
    (a.join().expect("server a"), b.join().expect("server b"))
}

/// Polls `sql` on `client` until it answers `expected` (or fails with it
/// when `expected` starts with "ERROR"); panics after [`SEEN_WITHIN`].
async fn eventually(client: &tokio_postgres::Client, sql: &str, expected: &str) {
    let started = Instant::now();
    loop {
        let got = match client.simple_query(sql).await {
            Ok(messages) => messages
                .iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                        (0..r.len())
                            .map(|i| r.get(i).unwrap_or("NULL"))
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(";"),
            Err(e) => format!("ERROR {}", crate::common::describe_error(&e)),
        };
        if got == expected || (expected.starts_with("ERROR") && got.starts_with(expected)) {
            return;
        }
        assert!(
            started.elapsed() < SEEN_WITHIN,
            "{sql}: still {got:?} after {SEEN_WITHIN:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_through_one_replica_is_seen_through_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_replicas(dir.path());
    let (ca, cb) = (a.client().await, b.client().await);
    exec(
        &ca,
        "CREATE SCHEMA r; CREATE TABLE r.t AS SELECT 1 AS x; \
         CREATE VIEW r.v AS SELECT x + 1 AS y FROM r.t; COMMENT ON TABLE r.t IS 'from a'",
    )
    .await;
    eventually(&cb, "SELECT y FROM r.v", "2").await;
    eventually(
        &cb,
        "SELECT comment FROM voidx.catalog WHERE schema = 'r' AND name = 't'",
        "from a",
    )
    .await;
    // Data written through B is read through A at once (a lookup checks
    // the table's next commit); DDL through B reaches A within the interval.
    exec(&cb, "INSERT INTO r.t VALUES (41)").await;
    assert_eq!(
        query_text(&ca, "SELECT sum(y) FROM r.v").await,
        [["44"]],
        "A reads B's row"
    );
    exec(
        &cb,
        "CREATE OR REPLACE VIEW r.v AS SELECT x * 10 AS y FROM r.t; DROP TABLE IF EXISTS r.nothing",
    )
    .await;
    eventually(&ca, "SELECT sum(y) FROM r.v", "420").await;
    exec(&cb, "DROP VIEW r.v").await;
    eventually(&ca, "SELECT y FROM r.v", "ERROR 42P01").await;
    // A's own catalog copy was stale when it commits next: the change is
    // applied to B's version, so B's DROP is not undone.
    exec(&ca, "CREATE VIEW r.w AS SELECT x FROM r.t").await;
    eventually(&cb, "SELECT count(*) FROM r.w", "2").await;
    assert!(
        query_text(
            &ca,
            "SELECT count(*) FROM voidx.catalog WHERE schema = 'r' AND name = 'v'"
        )
        .await
            == [["0"]],
        "B's DROP VIEW stays dropped"
    );
    for server in [&a, &b] {
        assert!(
            !server.log_text().contains("panicked"),
            "{}",
            server.log_text()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_ddl_through_two_replicas_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_replicas(dir.path());
    exec(&a.client().await, "CREATE SCHEMA r").await;
    eventually(
        &b.client().await,
        "SELECT count(*) FROM voidx.catalog WHERE schema = 'r'",
        "1",
    )
    .await;
    let each = 20;
    let mut tasks = Vec::new();
    for (side, server) in [("a", &a), ("b", &b)] {
        let client = server.client().await;
        tasks.push(tokio::spawn(async move {
            for i in 0..each {
                exec(
                    &client,
                    &format!("CREATE TABLE r.{side}{i} AS SELECT {i} AS i"),
                )
                .await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("creator");
    }
    let expected = (2 * each).to_string();
    for server in [&a, &b] {
        let c = server.client().await;
        eventually(
            &c,
            "SELECT count(*) FROM voidx.catalog WHERE schema = 'r' AND kind = 'table'",
            &expected,
        )
        .await;
        // Every table is there and readable through either server.
        let sum: Vec<String> = (0..each)
            .flat_map(|i| {
                [
                    format!("SELECT i FROM r.a{i}"),
                    format!("SELECT i FROM r.b{i}"),
                ]
            })
            .collect();
        assert_eq!(
            query_text(
                &c,
                &format!("SELECT sum(i) FROM ({})", sum.join(" UNION ALL "))
            )
            .await,
            [[(2 * (0..each).sum::<i32>()).to_string()]]
        );
    }
}

/// Polls `POST /predict` on `http` until it answers with `version`.
async fn serves_version(http: &Http, version: &str) {
    let body = json!({"customer_id": "c1", "features": {"x1": 4.0, "x2": 4.0}}).to_string();
    let started = Instant::now();
    loop {
        let (status, answer) = http.post("/predict", &body).await;
        if status == 200 && answer["model_version"] == version {
            return;
        }
        assert!(
            started.elapsed() < SEEN_WITHIN,
            "still {status} {answer} after {SEEN_WITHIN:?}, expected model_version {version}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_through_one_replica_changes_what_the_other_serves() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_replicas(dir.path());
    let (ca, cb) = (a.client().await, b.client().await);
    exec(&ca, &demo_table(300)).await;
    exec(
        &ca,
        &train_sql(
            "revenue_predictor",
            &format!("SELECT x1, x2, {DEMO_TARGET} AS y FROM d"),
            "y",
            r#"{"cv_folds": 0, "n_estimators": 10}"#,
        ),
    )
    .await;
    let rest_b = Http::new(&b);
    serves_version(&rest_b, "1").await;
    exec(
        &ca,
        &train_sql(
            "revenue_predictor",
            "SELECT x1, x2, x1 * 100 AS y FROM d",
            "y",
            r#"{"cv_folds": 0, "n_estimators": 10, "deploy": "never"}"#,
        ),
    )
    .await;
    exec(&ca, "SELECT * FROM deploy('revenue_predictor', 2)").await;
    serves_version(&rest_b, "2").await;
    // B's rollback is decided on what A committed, and A serves its result.
    exec(&cb, "SELECT * FROM rollback('revenue_predictor')").await;
    serves_version(&Http::new(&a), "1").await;
    eventually(
        &ca,
        "SELECT version FROM voidx.models WHERE name = 'revenue_predictor' AND stage = 'production'",
        "1",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_one_model_through_two_replicas_at_once_never_reuses_a_version() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_replicas(dir.path());
    exec(&a.client().await, &demo_table(200)).await;
    eventually(&b.client().await, "SELECT count(*) FROM d", "200").await;
    let each = 2;
    let mut tasks = Vec::new();
    for server in [&a, &b] {
        let client = server.client().await;
        tasks.push(tokio::spawn(async move {
            let mut versions = Vec::new();
            for _ in 0..each {
                let sql = train_sql(
                    "m",
                    &format!("SELECT x1, x2, {DEMO_TARGET} AS y FROM d"),
                    "y",
                    r#"{"cv_folds": 0, "n_estimators": 5}"#,
                );
                let rows = query_text(&client, &sql.replace("SELECT *", "SELECT version")).await;
                versions.push(rows[0][0].parse::<i64>().unwrap());
            }
            versions
        }));
    }
    let mut versions = Vec::new();
    for task in tasks {
        versions.extend(task.await.expect("trainer"));
    }
    versions.sort_unstable();
    assert_eq!(versions, [1, 2, 3, 4], "every training its own number");
    for server in [&a, &b] {
        let c = server.client().await;
        assert_eq!(
            query_text(
                &c,
                "SELECT version FROM voidx.models WHERE name = 'm' ORDER BY version"
            )
            .await,
            [["1"], ["2"], ["3"], ["4"]],
            "no server's registration overwrote another's"
        );
        for v in 1..=4 {
            eventually(
                &c,
                &format!("SELECT count(*) FROM (SELECT predict('m@{v}', 1.0, 2.0) FROM d LIMIT 1)"),
                "1",
            )
            .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_on_two_replicas_runs_each_slot_once() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_replicas(dir.path());
    let (ca, cb) = (a.client().await, b.client().await);
    exec(&ca, "CREATE TABLE ticks (n INT)").await;
    exec(
        &ca,
        "SELECT * FROM create_job('tick', 'INSERT INTO ticks VALUES (1)', '{\"every\": \"1s\"}')",
    )
    .await;
    // B learns of the job (a manual run needs its definition) ...
    eventually(&cb, "SELECT status FROM run_job('tick')", "success").await;
    // ... and both schedulers compete for its slots for a while.
    tokio::time::sleep(Duration::from_secs(6)).await;
    exec(&cb, "SELECT * FROM drop_job('tick')").await;
    eventually(&ca, "SELECT count(*) FROM voidx.jobs", "0").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let scheduled = query_text(
        &ca,
        "SELECT count(*), count(DISTINCT slot) FROM voidx.job_runs WHERE job = 'tick' AND trigger = 'schedule' AND status = 'success'",
    )
    .await;
    let (runs, slots) = (&scheduled[0][0], &scheduled[0][1]);
    assert_eq!(runs, slots, "a slot ran twice: {scheduled:?}");
    assert!(
        runs.parse::<u32>().unwrap() >= 3,
        "the job ran: {scheduled:?}"
    );
    let ticks = query_text(&ca, "SELECT count(*) FROM ticks").await;
    assert_eq!(
        ticks[0][0].parse::<u32>().unwrap(),
        runs.parse::<u32>().unwrap() + 1,
        "one insert per scheduled run plus the manual one"
    );
}
