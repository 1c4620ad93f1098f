//! The security boundary, tried as an attacker with a SQL login would:
//! encoded and aliased file locations, symlinks, `..` in object keys, COPY
//! into the data directory, server-wide SETs, `env:` references to the
//! server's own secrets, secrets in the catalog, redirects that carry
//! headers elsewhere, oversized responses, and what `analyst` / `reader`
//! logins may do. Each attempt expects its SQLSTATE and checks that nothing
//! was read, written or sent.

use std::path::Path;

use crate::common::{ROOT_AND_ANALYST, Server, query_text};

// Kept under these names for the security_* modules that import them from here.
pub(crate) use crate::common::{Mock, error_of, exec, refused};

fn table_count(rows: Vec<Vec<String>>) -> usize {
    rows.first()
        .and_then(|r| r.first())
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_locations_are_checked_in_the_form_the_reader_opens() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let allowed = root.join("allowed");
    let secret = root.join("secret");
    std::fs::create_dir_all(allowed.join("sub")).unwrap();
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(allowed.join("a.csv"), "x\n1\n").unwrap();
    std::fs::write(allowed.join("sub/a.csv"), "x\n2\n").unwrap();
    std::fs::write(secret.join("a.csv"), "x\n666\n").unwrap();
    std::fs::write(secret.join("model.json"), "{}").unwrap();
    std::os::unix::fs::symlink(&secret, allowed.join("escape")).unwrap();
    std::os::unix::fs::symlink(allowed.join("sub"), allowed.join("link")).unwrap();
    let a = allowed.display().to_string();
    let server = Server::start_with(
        &root.join("data"),
        &[],
        &[(
            "VOIDX_INGEST__ALLOWED_DIRS",
            &format!("{a},s3://bucket/raw/"),
        )],
    );
    let c = server.client().await;
    let csv = |name: &str, location: &str| {
        format!(
            "CREATE EXTERNAL TABLE {name} STORED AS CSV LOCATION '{location}' OPTIONS ('format.has_header' 'true')"
        )
    };
    for (i, location) in [
        format!("file://{a}/%2e%2e/secret/a.csv"),
        format!("file://{a}/%2E%2E/secret/a.csv"),
        format!("file://{a}/.%2e/secret/a.csv"),
        format!("file:{a}/../secret/a.csv"),
        format!("file://localhost{a}/../secret/a.csv"),
        format!("{a}/../secret/a.csv"),
        format!("{a}/escape/a.csv"),
        format!("file://{a}/escape/a.csv"),
        "file:/etc/passwd".to_string(),
        "/etc/passwd".to_string(),
        "s3://bucket/raw/%2e%2e/secret/a.csv".to_string(),
        "s3://bucket/raw/../secret/a.csv".to_string(),
        "s3://other/raw/a.csv".to_string(),
    ]
    .iter()
    .enumerate()
    {
        refused(&c, &csv(&format!("t{i}"), location), "42501").await;
    }
    // Hidden from the URL parser, not from object_store: refused as invalid.
    let e = error_of(&c, &csv("t_slash", "s3://bucket/raw%2F..%2Fsecret/a.csv")).await;
    assert!(e.starts_with("22023") || e.starts_with("42501"), "{e}");
    // A host in a file: URL names another machine's file.
    error_of(&c, &csv("t_host", &format!("file://evil.example{a}/a.csv"))).await;
    // Double encoding is decoded once, like the reader: a literal `%2e%2e`
    // directory inside the allowed one (which does not exist), never `..`.
    let e = error_of(
        &c,
        &csv("t_double", &format!("file://{a}/%252e%252e/secret/a.csv")),
    )
    .await;
    assert!(!e.contains("666"), "{e}");
    refused(
        &c,
        &format!("CREATE EXTERNAL TABLE d STORED AS DELTATABLE LOCATION 'file://{a}/%2e%2e/data/voidx/catalog'"),
        "42501",
    )
    .await;
    refused(
        &c,
        &format!("SELECT * FROM import_model('m', 'file://{a}/%2e%2e/secret/model.json', '{{\"format\": \"xgboost\"}}')"),
        "42501",
    )
    .await;
    refused(
        &c,
        "CREATE EXTERNAL TABLE h STORED AS HTML LOCATION 'file:/etc/passwd'",
        "42501",
    )
    .await;
    assert_eq!(
        table_count(
            query_text(
                &c,
                "SELECT count(*) FROM voidx.catalog WHERE kind = 'external'"
            )
            .await
        ),
        0,
        "no refused table was stored"
    );

    // Every spelling of an allowed file works.
    exec(&c, &csv("ok_plain", &format!("{a}/a.csv"))).await;
    exec(
        &c,
        &csv("ok_localhost", &format!("file://localhost{a}/a.csv")),
    )
    .await;
    exec(&c, &csv("ok_noslash", &format!("file:{a}/./a.csv"))).await;
    assert_eq!(
        query_text(&c, "SELECT (SELECT x FROM ok_plain) + (SELECT x FROM ok_localhost) + (SELECT x FROM ok_noslash)").await,
        vec![vec!["3"]]
    );
    // A symlink inside the allowed directory is followed at CREATE; swapping
    // it afterwards does not move the table outside.
    exec(&c, &csv("swapped", &format!("{a}/link/a.csv"))).await;
    std::fs::remove_file(allowed.join("link")).unwrap();
    std::os::unix::fs::symlink(&secret, allowed.join("link")).unwrap();
    let rows = c.simple_query("SELECT x FROM swapped").await;
    let text = format!("{rows:?}");
    assert!(
        !text.contains("666"),
        "the swapped symlink was followed: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_writes_only_below_export_dirs_and_never_into_the_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let out = root.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let data = root.join("data");

    // The default: no export directory, so COPY TO a file is refused.
    {
        let server = Server::start(&data);
        let c = server.client().await;
        let e = refused(
            &c,
            &format!("COPY (SELECT 1 AS x) TO '{}/x.csv'", out.display()),
            "42501",
        )
        .await;
        assert!(e.contains("ingest.allowed_export_dirs"), "{e}");
        assert!(!out.join("x.csv").exists());
    }

    let server = Server::start_with(
        &data,
        &[],
        &[(
            "VOIDX_INGEST__ALLOWED_EXPORT_DIRS",
            &root.display().to_string(),
        )],
    );
    let c = server.client().await;
    let o = out.display().to_string();
    let d = data.display().to_string();
    for target in [
        format!("{d}/voidx/catalog/evil.parquet"),
        format!("{d}/evil.csv"),
        format!("{o}/../data/evil.csv"),
        format!("file://{o}/%2e%2e/data/evil.csv"),
        format!("file:{o}/../data/evil.csv"),
        format!("file://{o}/%2e%2e/%2e%2e/evil.csv"),
        "/tmp/voidx-security-evil.csv".to_string(),
        "http://127.0.0.1:1/evil.csv".to_string(),
    ] {
        let e = refused(&c, &format!("COPY (SELECT 1 AS x) TO '{target}'"), "42501").await;
        assert!(e.contains("[hint:"), "{e}");
    }
    assert!(!data.join("evil.csv").exists());
    assert!(!data.join("voidx/catalog/evil.parquet").exists());
    assert!(!Path::new("/tmp/voidx-security-evil.csv").exists());
    assert!(!root.parent().unwrap().join("evil.csv").exists());
    // Below the export directory it works.
    exec(&c, &format!("COPY (SELECT 7 AS x) TO '{o}/ok.csv'")).await;
    let written = std::fs::read_to_string(out.join("ok.csv")).unwrap();
    assert!(written.contains('7'), "{written}");
    // COPY is for admins only.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_are_per_session_and_limits_are_the_operators() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let c = server.client().await;
    let other = server.client().await;
    for sql in [
        "SET datafusion.runtime.memory_limit = '1000G'",
        "SET datafusion.runtime.temp_directory = '/tmp/anywhere'",
        "SET datafusion.runtime.max_temp_directory_size = '1000G'",
        "SET SESSION datafusion.runtime.memory_limit = '1000G'",
        "SET LOCAL datafusion.runtime.memory_limit = '1000G'",
        "SET datafusion.execution.target_partitions = 1000",
        "SET datafusion.execution.batch_size = 100000000",
        "SET datafusion.catalog.location = '/etc'",
        "RESET datafusion.runtime.memory_limit",
    ] {
        let e = refused(&c, sql, "42501").await;
        assert!(e.contains("[hint:"), "{e}");
    }
    for sql in [
        "SET no_such_setting = 1",
        "SET datafusion.execution.no_such_setting = 1",
        "RESET no_such_setting",
    ] {
        refused(&c, sql, "42704").await;
    }
    refused(&c, "SET datafusion.optimizer.max_passes = 'many'", "22023").await;

    // A session's settings are its own, and its queries use them.
    exec(&c, "SET datafusion.execution.time_zone = '+05:00'").await;
    let mine = query_text(&c, "SHOW datafusion.execution.time_zone").await;
    assert_eq!(mine, vec![vec!["+05:00"]]);
    let theirs = query_text(&other, "SHOW datafusion.execution.time_zone").await;
    assert_ne!(theirs, mine);
    let typed = |rows: Vec<Vec<String>>| rows[0][0].clone();
    assert!(typed(query_text(&c, "SELECT arrow_typeof(now())").await).contains("+05:00"));
    assert!(!typed(query_text(&other, "SELECT arrow_typeof(now())").await).contains("+05:00"));
    exec(&c, "RESET datafusion.execution.time_zone").await;
    assert_eq!(
        query_text(&c, "SHOW datafusion.execution.time_zone").await,
        theirs
    );
    // PostgreSQL's own settings still work.
    exec(
        &c,
        "SET statement_timeout = '5s'; SET application_name = 'x'; SET client_encoding = 'UTF8'",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_neither_readable_from_the_environment_nor_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let api = Mock::json("127.0.0.1", r#"[{"a": 1}]"#);
    // A redirect to another host (127.0.0.2 is loopback too, another origin).
    let elsewhere = Mock::json("127.0.0.2", r#"[{"a": 2}]"#);
    let redirect = Mock::start(
        "127.0.0.1",
        format!(
            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.2:{}/x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            elsewhere.port
        )
        .into_bytes(),
    );
    let big_body = format!("[{}]", vec![r#"{"a": 1}"#; 200_000].join(","));
    let big = Mock::json("127.0.0.1", &big_body);
    let server = Server::start_with(
        &tmp.path().join("data"),
        &[],
        &[
            ("VOIDX_INGEST__ALLOWED_HOSTS", "127.0.0.0/8"),
            ("VOIDX_INGEST__SECRET_ENV", "SHOP_*,VOIDX_*"),
            ("VOIDX_INGEST__MAX_RESPONSE_MB", "1"),
            ("SHOP_TOKEN", "shop-token-value"),
        ],
    );
    let c = server.client().await;
    let rest = |name: &str, port: u16, header: &str| {
        format!(
            "CREATE EXTERNAL TABLE {name} STORED AS REST LOCATION 'http://127.0.0.1:{port}/x' \
             OPTIONS ('header.x-api-key' '{header}')"
        )
    };
    for (i, var) in [
        "VOIDX_USERS__ADMIN",
        "VOIDX_SERVE__API_KEYS",
        "PATH",
        "HOME",
    ]
    .iter()
    .enumerate()
    {
        let e = refused(
            &c,
            &rest(&format!("leak{i}"), api.port, &format!("env:{var}")),
            "42501",
        )
        .await;
        assert!(e.contains("ingest.secret_env"), "{e}");
    }
    assert!(
        api.requests().is_empty(),
        "nothing was sent: {:?}",
        api.requests()
    );

    // An allowed reference works; a literal secret works too but is never shown.
    exec(&c, &rest("by_env", api.port, "env:SHOP_TOKEN")).await;
    exec(&c, &rest("literal", api.port, "literal-hunter2")).await;
    assert_eq!(
        query_text(&c, "SELECT a FROM literal").await,
        vec![vec!["1"]]
    );
    let sent = api.requests().join("\n");
    assert!(
        sent.contains("shop-token-value") && sent.contains("literal-hunter2"),
        "{sent}"
    );
    let catalog = format!("{:?}", query_text(&c, "SELECT * FROM voidx.catalog").await);
    assert!(!catalog.contains("literal-hunter2"), "{catalog}");
    assert!(
        catalog.contains("env:SHOP_TOKEN") && catalog.contains("***"),
        "{catalog}"
    );
    let tables = format!("{:?}", query_text(&c, "SELECT * FROM voidx.tables").await);
    assert!(!tables.contains("literal-hunter2"), "{tables}");

    // Custom headers are not carried to another host by a redirect.
    exec(&c, &rest("redirected", redirect.port, "literal-hunter2")).await;
    assert_eq!(
        query_text(&c, "SELECT a FROM redirected").await,
        vec![vec!["2"]]
    );
    let there = elsewhere.requests().join("\n");
    assert!(
        !there.is_empty() && !there.contains("literal-hunter2"),
        "{there}"
    );
    assert!(redirect.requests().join("\n").contains("literal-hunter2"));

    // Pages above ingest.max_response_mb fail with a clear error.
    let e = error_of(&c, &rest("huge", big.port, "x")).await;
    assert!(e.contains("ingest.max_response_mb"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_let_each_login_do_its_job_and_nothing_more() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    std::fs::write(root.join("a.csv"), "x\n1\n").unwrap();
    let dir = root.display().to_string();
    let env = [
        ROOT_AND_ANALYST.as_slice(),
        &[
            ("VOIDX_USERS__rita__PASSWORD", "reader password"),
            ("VOIDX_USERS__rita__ROLE", "reader"),
            ("VOIDX_INGEST__ALLOWED_DIRS", dir.as_str()),
            ("VOIDX_INGEST__ALLOWED_EXPORT_DIRS", dir.as_str()),
            ("VOIDX_LIMITS__STATEMENT_TIMEOUT_MS", "60000"),
        ],
    ]
    .concat();
    let server = Server::start_with(&root.join("data"), &[], &env);
    let admin = server.client_as("root", "root password").await;
    let ann = server.client_as("ann", "analyst password").await;
    let rita = server.client_as("rita", "reader password").await;
    exec(
        &admin,
        "CREATE SCHEMA shop; CREATE TABLE shop.t AS SELECT 1 AS x",
    )
    .await;

    // reader: queries and serving functions, nothing else.
    assert_eq!(
        query_text(&rita, "SELECT x FROM shop.t").await,
        vec![vec!["1"]]
    );
    exec(&rita, "SET datafusion.execution.time_zone = 'UTC'").await;
    for sql in [
        "CREATE VIEW shop.v AS SELECT x FROM shop.t",
        "CREATE TABLE shop.u AS SELECT 2 AS y",
        "INSERT INTO shop.t VALUES (2)",
        "DROP TABLE shop.t",
        "SELECT * FROM train('m', 'SELECT x, x AS y FROM shop.t', 'y', '{}')",
        "SELECT * FROM ingest('shop.i', 'SELECT 1 AS x', '{}')",
        "DECLARE c CURSOR FOR SELECT * FROM deploy('m', 1)",
    ] {
        let e = refused(&rita, sql, "42501").await;
        assert!(
            e.contains("role 'reader' cannot") && e.contains("[hint:"),
            "{e}"
        );
    }

    // analyst: views, tables and training in their schemas; no sources,
    // COPY, lifecycle or limits.
    exec(&ann, "CREATE VIEW shop.v AS SELECT x FROM shop.t").await;
    exec(&ann, "CREATE TABLE shop.u AS SELECT 2 AS y").await;
    exec(&ann, "DROP VIEW shop.v").await;
    exec(&ann, "SET statement_timeout = '1s'").await;
    let csv = root.join("a.csv").display().to_string();
    for sql in [
        format!("CREATE EXTERNAL TABLE shop.e STORED AS CSV LOCATION '{csv}'"),
        format!("COPY (SELECT 1 AS x) TO '{}/copied.csv'", root.display()),
        "SELECT * FROM ingest('shop.i', 'SELECT 1 AS x', '{}')".to_string(),
        "SELECT * FROM deploy('m', 1)".to_string(),
        "SELECT * FROM create_alert('a', 'SELECT 1', '{}')".to_string(),
        "CREATE VIEW voidx.v AS SELECT 1 AS x".to_string(),
        "SET statement_timeout = '0'".to_string(),
        "SET statement_timeout = '10min'".to_string(),
    ] {
        let e = refused(&ann, &sql, "42501").await;
        assert!(e.contains("[hint:"), "{e}");
    }
    assert!(!root.join("copied.csv").exists());
    let objects = query_text(
        &admin,
        "SELECT name FROM voidx.catalog WHERE schema = 'shop' ORDER BY name",
    )
    .await;
    assert_eq!(
        objects,
        vec![vec![""], vec!["t"], vec!["u"]],
        "only what was allowed exists"
    );
    // The admin may do all of it.
    exec(&admin, &format!("CREATE EXTERNAL TABLE shop.e STORED AS CSV LOCATION '{csv}' OPTIONS ('format.has_header' 'true')")).await;
    exec(&admin, "SET statement_timeout = '0'").await;
}
