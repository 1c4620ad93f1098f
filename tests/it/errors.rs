//! Every bad statement gets a SQLSTATE and a message that says what to do;
//! the session and the server keep working afterwards.

use crate::common::{Server, describe_error, query_text};

const BAD: &[&str] = &[
    "SELEC 1",
    "SELECT * FROM no_such_table",
    "SELECT nope FROM shop.t",
    "CREATE TABLE shop.t (a INT)",
    "CREATE TABLE missing.t (a INT)",
    "CREATE SCHEMA shop",
    "CREATE TABLE voidx.mine (a INT)",
    "DROP TABLE shop.v",
    "DROP VIEW shop.t",
    "DROP TABLE shop.t",
    "DROP SCHEMA shop",
    "DROP TABLE nothing_here",
    "SELECT 1/0",
    "SELECT CAST('abc' AS INT)",
    "INSERT INTO shop.t VALUES ('not a number')",
    "SELECT * FROM table_at('shop.t', 99)",
    "SELECT * FROM table_history('shop.v')",
    "SELECT no_such_function(1)",
    "ALTER TABLE shop.t RENAME TO v",
    "CREATE EXTERNAL TABLE shop.x STORED AS DELTATABLE LOCATION '<tmp>/nothing'",
    "CREATE EXTERNAL TABLE shop.y STORED AS AVROX LOCATION '/tmp'",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_messages() {
    let tmp = tempfile::tempdir().unwrap();
    // The test's own temporary directory is allowed so the DELTATABLE
    // statement reaches the Delta check (the allowlist refusal itself is
    // tested in sources_pg). `<tmp>` keeps the snapshot machine-independent:
    // the path never exists before the test, whatever earlier runs left.
    let tmp_text = tmp.path().to_string_lossy().into_owned();
    let server = Server::start_with(
        &tmp.path().join("data"),
        &[],
        &[("VOIDX_INGEST__ALLOWED_DIRS", tmp_text.as_str())],
    );
    let c = server.client().await;
    c.batch_execute("CREATE SCHEMA shop; CREATE TABLE shop.t (a INT); INSERT INTO shop.t VALUES (1); CREATE VIEW shop.v AS SELECT a FROM shop.t")
        .await
        .unwrap();
    let mut report = String::new();
    for sql in BAD {
        let result = c.simple_query(&sql.replace("<tmp>", &tmp_text)).await;
        let line = match result {
            Ok(_) => "OK (expected an error)".to_string(),
            Err(e) => describe_error(&e).replace(&tmp_text, "<tmp>"),
        };
        report.push_str(&format!("{sql}\n  -> {line}\n"));
    }
    insta::assert_snapshot!(report);
    // Nothing above broke the session or the data.
    assert_eq!(
        query_text(&c, "SELECT a FROM shop.v").await,
        vec![vec!["1"]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_cancels_only_that_query() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let c = server.client().await;
    c.batch_execute("SET statement_timeout = 200")
        .await
        .unwrap();
    let err = c
        .simple_query("SELECT count(*) FROM generate_series(1, 2000000000) a")
        .await
        .unwrap_err();
    assert!(
        describe_error(&err).starts_with("57014"),
        "{}",
        describe_error(&err)
    );
    c.batch_execute("SET statement_timeout = 0").await.unwrap();
    assert_eq!(query_text(&c, "SELECT 1").await, vec![vec!["1"]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_fails_the_query_not_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("data"),
        &[],
        &[("VOIDX_LIMITS__MEMORY_MB", "64")],
    );
    let c = server.client().await;
    let err = c
        .simple_query("SELECT cardinality(array_agg(value)) FROM generate_series(1, 30000000)")
        .await
        .unwrap_err();
    assert!(
        describe_error(&err).starts_with("53200"),
        "{}",
        describe_error(&err)
    );
    assert_eq!(query_text(&c, "SELECT 2").await, vec![vec!["2"]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_with_scram() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("data"),
        &[],
        &[("VOIDX_USERS__alice", "correct horse battery")],
    );
    let ok = format!(
        "host=127.0.0.1 port={} user=alice password='correct horse battery' dbname=voidx",
        server.pg_port
    );
    let c = crate::common::connect(&ok).await.expect("alice logs in");
    assert_eq!(query_text(&c, "SELECT 1").await, vec![vec!["1"]]);
    let bad = format!(
        "host=127.0.0.1 port={} user=alice password=wrong dbname=voidx",
        server.pg_port
    );
    let e = crate::common::connect(&bad).await.unwrap_err();
    assert!(
        describe_error(&e).starts_with("28P01"),
        "{}",
        describe_error(&e)
    );
    let nobody = format!(
        "host=127.0.0.1 port={} user=voidx dbname=voidx",
        server.pg_port
    );
    assert!(
        crate::common::connect(&nobody).await.is_err(),
        "passwordless login must be refused once users exist"
    );
    let wrong_db = format!(
        "host=127.0.0.1 port={} user=alice password='correct horse battery' dbname=other",
        server.pg_port
    );
    let e = crate::common::connect(&wrong_db).await.unwrap_err();
    assert!(
        describe_error(&e).starts_with("3D000"),
        "{}",
        describe_error(&e)
    );
}

#[test]
fn tls_misconfiguration_refuses_to_start() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(crate::common::voidx_bin())
        .args(["serve", "--data-dir"])
        .arg(tmp.path().join("data"))
        .args(["--pg-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
        .env("VOIDX_PG__TLS_CERT", tmp.path().join("missing-cert.pem"))
        .env("VOIDX_PG__TLS_KEY", tmp.path().join("missing-key.pem"))
        .env_remove("VOIDXTEST_PYTHON")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TLS cannot be set up"), "{stderr}");
}
