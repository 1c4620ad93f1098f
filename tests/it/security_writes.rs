//! Writes a login reaches, judged by what the name resolves to: an analyst
//! may write into managed tables but not into sources (external tables that
//! write files or reach hosts), nor drop, rename or replace them; nobody
//! writes rows into system tables except through their functions. Each
//! refusal is 42501 and leaves the files and the catalog as they were.

use std::path::Path;

use crate::common::{ROOT_AND_ANALYST, Server, error_of, exec, query_text, refused};

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_write_into_or_change_sources_and_nobody_writes_system_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let files = root.join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("a.csv"), "x\n1\n").unwrap();
    let dir = root.display().to_string();
    let env = [
        ROOT_AND_ANALYST.as_slice(),
        &[("VOIDX_INGEST__ALLOWED_DIRS", dir.as_str())],
    ]
    .concat();
    let server = Server::start_with(&root.join("data"), &[], &env);
    let admin = server.client_as("root", "root password").await;
    let ann = server.client_as("ann", "analyst password").await;
    let dir = files.display().to_string();
    exec(
        &admin,
        &format!(
            "CREATE SCHEMA raw; CREATE SCHEMA shop; CREATE TABLE shop.t AS SELECT 1 AS x; \
             CREATE EXTERNAL TABLE raw.events (x BIGINT) STORED AS CSV LOCATION '{dir}/' \
               OPTIONS ('format.has_header' 'true'); \
             CREATE EXTERNAL TABLE events_here (x BIGINT) STORED AS CSV LOCATION '{dir}/' \
               OPTIONS ('format.has_header' 'true')"
        ),
    )
    .await;
    let before = files_in(&files);

    // The analyst does its job: writes into managed tables, reads sources.
    exec(&ann, "INSERT INTO shop.t VALUES (2)").await;
    exec(&ann, "CREATE VIEW shop.v AS SELECT x FROM raw.events").await;
    assert_eq!(
        query_text(&ann, "SELECT count(*) FROM raw.events").await,
        vec![vec!["1"]]
    );
    // … and cannot write into, drop, rename or replace a source, however named.
    for sql in [
        "INSERT INTO raw.events VALUES (666)",
        "INSERT INTO \"raw\".\"events\" VALUES (666)",
        "INSERT INTO voidx.raw.events VALUES (666)",
        "INSERT INTO RAW.Events SELECT 666",
        "INSERT INTO events_here VALUES (666)",
        "INSERT INTO public.events_here VALUES (666)",
        "DROP TABLE raw.events",
        "DROP TABLE IF EXISTS shop.t, raw.events",
        "ALTER TABLE raw.events RENAME TO gone",
        "DROP SCHEMA raw CASCADE",
        "CREATE OR REPLACE VIEW raw.events AS SELECT 1 AS x",
    ] {
        let e = refused(&ann, sql, "42501").await;
        assert!(
            e.contains("role 'analyst' cannot") && e.contains("[hint:"),
            "{sql}: {e}"
        );
    }
    // DataFusion has no COPY … FROM: it is no way in either.
    error_of(&ann, &format!("COPY raw.events FROM '{dir}/a.csv'")).await;
    error_of(&admin, &format!("COPY raw.events FROM '{dir}/a.csv'")).await;
    assert_eq!(files_in(&files), before, "no file was written");
    assert_eq!(
        query_text(
            &admin,
            "SELECT name FROM voidx.catalog WHERE kind = 'external' ORDER BY name"
        )
        .await,
        vec![vec!["events"], vec!["events_here"]],
        "both sources are still there"
    );
    assert_eq!(
        query_text(&admin, "SELECT count(*) FROM shop.t").await,
        vec![vec!["2"]]
    );

    // System tables change only through their functions, for every role.
    for (who, sql) in [
        (
            &admin,
            "INSERT INTO voidx.models SELECT * FROM voidx.models",
        ),
        (&admin, "DELETE FROM voidx.predictions"),
        (
            &admin,
            "INSERT INTO voidx.predictions SELECT * FROM voidx.predictions",
        ),
        (
            &admin,
            "INSERT INTO \"voidx\".\"predictions\" SELECT * FROM voidx.predictions",
        ),
        (
            &ann,
            "INSERT INTO voidx.predictions SELECT * FROM voidx.predictions",
        ),
        (
            &admin,
            "SELECT * FROM ingest('voidx.evil', 'SELECT 1 AS x', '{}')",
        ),
    ] {
        refused(who, sql, "42501").await;
    }
    // `ingest` loads managed tables, never a source.
    error_of(
        &admin,
        "SELECT * FROM ingest('raw.events', 'SELECT 1 AS x', '{}')",
    )
    .await;
    assert_eq!(files_in(&files), before, "no file was written");

    // The admin may write into a source (a new file in its directory).
    exec(&admin, "INSERT INTO raw.events VALUES (7)").await;
    assert_eq!(files_in(&files), before + 1);
}
