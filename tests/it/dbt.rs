//! dbt-postgres, unmodified, against a real server: the project in
//! tests/dbt (views, tables, ephemeral, incremental append / delete+insert /
//! merge, snapshots of both strategies, a seed, generic and singular tests,
//! a source with freshness) built twice, snapshotted twice around a changed
//! row, then `docs generate` and `source freshness`. Results are checked in
//! SQL against what PostgreSQL gives for the same project. Also here: the
//! server behaviour dbt needs, checked directly (temporary tables,
//! TRUNCATE, `pg_tables` / `pg_views`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Server, describe_error, query_text};

/// The dbt CLI: `VOIDXTEST_DBT`, else the `dbt` next to the test venv's Python.
fn require_dbt() -> PathBuf {
    let dbt = std::env::var_os("VOIDXTEST_DBT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            crate::common::require_python()
                .parent()
                .map(|bin| bin.join("dbt"))
                .unwrap_or_else(|| PathBuf::from("dbt"))
        });
    assert!(
        dbt.is_file(),
        "{} not found; run `bash scripts/test.sh`, which installs dbt-postgres into the venv (or set VOIDXTEST_DBT)",
        dbt.display()
    );
    dbt
}

/// Runs `dbt <args>` in a copy of the project; panics with its output on failure.
fn dbt(dbt: &Path, project: &Path, profiles: &Path, args: &[&str], server: &Server) {
    let out = Command::new(dbt)
        .args(args)
        .arg("--project-dir")
        .arg(project)
        .arg("--profiles-dir")
        .arg(profiles)
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .env("DBT_LOG_PATH", project.join("logs"))
        .env("DBT_TARGET_PATH", project.join("target"))
        .output()
        .expect("run dbt");
    assert!(
        out.status.success(),
        "dbt {args:?} failed:\n{}\n{}\n--- server log ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

async fn one(client: &tokio_postgres::Client, sql: &str) -> String {
    query_text(client, sql).await[0][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dbt_project_builds_and_snapshots_every_run() {
    let dbt_bin = require_dbt();
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let (project, profiles) = project_for(tmp.path(), &server);
    let client = server.client().await;
    create_source(&client).await;

    let run = |args: &'static [&'static str]| {
        let (dbt_bin, project, profiles) = (dbt_bin.clone(), project.clone(), profiles.clone());
        let server = &server;
        move || dbt(&dbt_bin, &project, &profiles, args, server)
    };
    // First and second build: the second swaps views and tables, truncates
    // the seed, runs every incremental and snapshot against existing tables.
    run(&["build"])();
    run(&["build"])();
    assert_eq!(
        one(&client, "SELECT count(*) FROM dbt_dev.countries").await,
        "3"
    );
    for model in ["inc_append", "inc_delete_insert", "inc_merge"] {
        assert_eq!(
            query_text(
                &client,
                &format!("SELECT count(*), count(DISTINCT customer_id) FROM dbt_dev.{model}")
            )
            .await,
            vec![vec!["5".to_string(), "5".to_string()]],
            "{model} after two builds"
        );
    }
    assert_eq!(one(&client, "SELECT c FROM dbt_dev.early_count").await, "2");

    // A source row changes and one arrives: snapshots close the old version.
    client
        .batch_execute(
            "UPDATE shop.customers SET segment = 'vip', updated_at = TIMESTAMP '2024-02-01 00:00:00' WHERE customer_id = 2;
             INSERT INTO shop.customers VALUES (6, 'c', TIMESTAMP '2024-02-02 00:00:00');",
        )
        .await
        .unwrap_or_else(|e| panic!("change the source: {}", describe_error(&e)));
    run(&["snapshot"])();
    run(&["snapshot"])();
    for snap in ["snap_ts", "snap_check"] {
        assert_eq!(
            query_text(
                &client,
                &format!(
                    "SELECT segment, dbt_valid_to IS NULL FROM snapshots.{snap} \
                     WHERE customer_id = 2 ORDER BY dbt_valid_from"
                )
            )
            .await,
            vec![
                vec!["a".to_string(), "f".to_string()],
                vec!["vip".to_string(), "t".to_string()]
            ],
            "{snap}: the old row closed, the new one current"
        );
        assert_eq!(
            one(&client, &format!("SELECT count(*) FROM snapshots.{snap}")).await,
            "7",
            "{snap}: 6 customers, one with two versions"
        );
    }

    // The incremental models take the change exactly once.
    run(&[
        "run",
        "--select",
        "inc_append",
        "inc_delete_insert",
        "inc_merge",
    ])();
    assert_eq!(
        one(&client, "SELECT count(*) FROM dbt_dev.inc_append").await,
        "7"
    );
    for model in ["inc_delete_insert", "inc_merge"] {
        assert_eq!(
            query_text(
                &client,
                &format!(
                    "SELECT count(*), count(DISTINCT customer_id), \
                     max(CASE WHEN customer_id = 2 THEN segment END) FROM dbt_dev.{model}"
                )
            )
            .await,
            vec![vec!["6".to_string(), "6".to_string(), "vip".to_string()]],
            "{model} after the change"
        );
    }

    run(&["docs", "generate"])();
    let catalog = std::fs::read_to_string(project.join("target/catalog.json")).unwrap();
    let catalog: serde_json::Value = serde_json::from_str(&catalog).unwrap();
    let columns = &catalog["nodes"]["model.voidx_e2e.stg_customers"]["columns"];
    assert!(
        columns.get("customer_id").is_some() && columns.get("updated_at").is_some(),
        "catalog.json lists stg_customers' columns: {columns}"
    );
    assert_eq!(
        catalog["nodes"]["model.voidx_e2e.segments"]["metadata"]["type"],
        "BASE TABLE"
    );
    assert_eq!(
        catalog["nodes"]["model.voidx_e2e.stg_customers"]["metadata"]["type"],
        "VIEW"
    );
    run(&["source", "freshness"])();
}

/// A copy of tests/dbt and a profiles.yml pointing at `server`.
fn project_for(dir: &Path, server: &Server) -> (PathBuf, PathBuf) {
    let project = dir.join("project");
    copy_dir(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dbt")),
        &project,
    );
    let profiles = dir.join("profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    std::fs::write(
        profiles.join("profiles.yml"),
        format!(
            // One thread: with more, a model that reads a view while dbt swaps
            // it (two renames, two catalog commits) can find it missing;
            // docs/sql.md, dbt.
            "voidx:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n      host: 127.0.0.1\n      port: {}\n      user: voidx\n      password: \"\"\n      dbname: voidx\n      schema: dbt_dev\n      threads: 1\n",
            server.pg_port
        ),
    )
    .unwrap();
    (project, profiles)
}

async fn create_source(client: &tokio_postgres::Client) {
    client
        .batch_execute(
            "CREATE SCHEMA shop;
             CREATE TABLE shop.customers AS SELECT * FROM (VALUES
               (1, 'a', TIMESTAMP '2024-01-01 00:00:00'),
               (2, 'a', TIMESTAMP '2024-01-02 00:00:00'),
               (3, 'b', TIMESTAMP '2024-01-03 00:00:00'),
               (4, 'b', TIMESTAMP '2024-01-04 00:00:00'),
               (5, 'c', TIMESTAMP '2024-01-05 00:00:00'))
               AS t(customer_id, segment, updated_at);",
        )
        .await
        .unwrap_or_else(|e| panic!("source data: {}", describe_error(&e)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temp_tables_are_the_connections_own() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let a = server.client().await;
    let b = server.client().await;
    a.batch_execute(
        "CREATE TABLE t AS SELECT 1 AS id, 'persistent' AS v;
         CREATE TEMP TABLE t AS SELECT 2 AS id, 'temp' AS v;
         CREATE TEMPORARY TABLE empty_one (id BIGINT, v VARCHAR);
         INSERT INTO empty_one VALUES (7, 'x');",
    )
    .await
    .unwrap_or_else(|e| panic!("{}", describe_error(&e)));
    // The temp table shadows `public.t` for its own connection only.
    assert_eq!(one(&a, "SELECT v FROM t").await, "temp");
    assert_eq!(one(&b, "SELECT v FROM t").await, "persistent");
    assert_eq!(one(&a, "SELECT count(*) FROM empty_one").await, "1");
    assert!(b.simple_query("SELECT * FROM empty_one").await.is_err());
    // dbt reads a temp table's columns from information_schema.
    assert_eq!(
        one(
            &a,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'empty_one'"
        )
        .await,
        "2"
    );
    // Written into a Delta table from the temp table; not in the catalog.
    a.batch_execute(
        "CREATE TABLE target AS SELECT 2 AS id, 'old' AS v;
         DELETE FROM target WHERE (id) IN (SELECT (id) FROM t);
         INSERT INTO target SELECT * FROM t;",
    )
    .await
    .unwrap_or_else(|e| panic!("{}", describe_error(&e)));
    assert_eq!(
        query_text(&b, "SELECT id, v FROM target").await,
        vec![vec!["2".to_string(), "temp".to_string()]]
    );
    assert_eq!(
        one(
            &b,
            "SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = 'empty_one'"
        )
        .await,
        "0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_and_catalog_views() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let c = server.client().await;
    c.batch_execute(
        "CREATE SCHEMA s;
         CREATE TABLE s.tab AS SELECT * FROM (VALUES (1), (2)) AS v(x);
         CREATE VIEW s.vw AS SELECT x FROM s.tab;
         TRUNCATE TABLE s.tab;",
    )
    .await
    .unwrap_or_else(|e| panic!("{}", describe_error(&e)));
    assert_eq!(one(&c, "SELECT count(*) FROM s.tab").await, "0");
    // One Delta commit: the rows before it stay readable.
    assert_eq!(
        one(&c, "SELECT count(*) FROM table_at('s.tab', 0)").await,
        "2"
    );
    // PostgreSQL lists tables in pg_tables and views in pg_views, never both.
    assert_eq!(
        query_text(
            &c,
            "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = 's'"
        )
        .await,
        vec![vec!["tab".to_string()]]
    );
    assert_eq!(
        query_text(
            &c,
            "SELECT viewname FROM pg_catalog.pg_views WHERE schemaname = 's'"
        )
        .await,
        vec![vec!["vw".to_string()]]
    );
    assert_eq!(
        query_text(
            &c,
            "SELECT c.relname, c.relkind FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n \
             ON c.relnamespace = n.oid WHERE n.nspname = 's' ORDER BY 1"
        )
        .await,
        vec![
            vec!["tab".to_string(), "r".to_string()],
            vec!["vw".to_string(), "v".to_string()]
        ]
    );
    assert_eq!(one(&c, "SELECT pg_is_other_temp_schema(1)").await, "f");
}
