//! More ways around the boundary, each expected to fail with its SQLSTATE
//! and send or change nothing: names and address spellings of loopback
//! (hosts-file names, a trailing dot, IPv6 forms of IPv4), object-store
//! endpoints checked by resolved address, `file:` spellings, settings under
//! other spellings or through functions, and another session's settings.

use std::net::ToSocketAddrs;

use crate::common::{Mock, ROOT_AND_ANALYST, Server, error_of, exec, query_text, refused};

/// A name (other than `localhost`) that this machine's hosts file resolves
/// to a loopback address, e.g. the host name: it passes a name check that
/// knows only `localhost`, so only the resolved-address check stops it.
fn loopback_alias() -> Option<String> {
    let hosts = std::fs::read_to_string("/etc/hosts").ok()?;
    hosts
        .lines()
        .filter(|l| l.trim_start().starts_with("127."))
        .flat_map(|l| l.split_whitespace().skip(1).map(str::to_string))
        .take_while(|name| !name.starts_with('#'))
        .filter(|name| {
            let lower = name.to_ascii_lowercase();
            lower != "localhost" && !lower.ends_with(".localhost") && !lower.contains("localhost")
        })
        .find(|name| {
            (name.as_str(), 80)
                .to_socket_addrs()
                .is_ok_and(|mut a| a.all(|a| a.ip().is_loopback()))
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_in_every_spelling_is_refused_and_nothing_is_sent() {
    let tmp = tempfile::tempdir().unwrap();
    let api = Mock::json("127.0.0.1", r#"[{"a": 1}]"#);
    // "*": any public host — so only the address checks stand in the way.
    let server = Server::start_with(
        &tmp.path().join("data"),
        &[],
        &[
            ("VOIDX_INGEST__ALLOWED_HOSTS", "*"),
            ("VOIDX_INGEST__ALLOWED_DIRS", "s3://bucket/"),
        ],
    );
    let c = server.client().await;
    let p = api.port;
    let mut hosts = vec![
        "127.0.0.1".to_string(),
        "127.1".to_string(),
        "2130706433".to_string(),
        "0x7f.0.0.1".to_string(),
        "0177.0.0.1".to_string(),
        "localhost".to_string(),
        "LOCALHOST".to_string(),
        "localhost.".to_string(),
        "a.b.localhost".to_string(),
        "[::1]".to_string(),
        "[::ffff:127.0.0.1]".to_string(),
        "[::ffff:7f00:1]".to_string(),
        "[0:0:0:0:0:ffff:127.0.0.1]".to_string(),
        "[::127.0.0.1]".to_string(),
        "[64:ff9b::7f00:1]".to_string(),
        "[2002:7f00:1::]".to_string(),
        "169.254.169.254".to_string(),
        "[fe80::1]".to_string(),
        "0.0.0.0".to_string(),
    ];
    let alias = loopback_alias();
    match &alias {
        Some(name) => hosts.push(name.clone()),
        None => {
            eprintln!("no loopback alias in /etc/hosts: the resolved-address cases are skipped")
        }
    }
    for (i, host) in hosts.iter().enumerate() {
        let sql =
            format!("CREATE EXTERNAL TABLE r{i} STORED AS REST LOCATION 'http://{host}:{p}/x'");
        refused(&c, &sql, "42501").await;
    }
    assert!(api.requests().is_empty(), "sent: {:?}", api.requests());

    // An object-store endpoint is checked by the address its name resolves
    // to, when the store connects, not only by its spelling.
    let s3 = |name: &str, endpoint: &str| {
        format!(
            "CREATE EXTERNAL TABLE {name} STORED AS CSV LOCATION 's3://bucket/x.csv' OPTIONS (\
             'aws.endpoint' '{endpoint}', 'aws.allow_http' 'true', 'aws.region' 'us-east-1', \
             'aws.access_key_id' 'k', 'aws.secret_access_key' 's')"
        )
    };
    refused(&c, &s3("s_ip", &format!("http://127.0.0.1:{p}")), "42501").await;
    refused(
        &c,
        &s3("s_v6", &format!("http://[::ffff:127.0.0.1]:{p}")),
        "42501",
    )
    .await;
    refused(&c, &s3("s_dot", &format!("http://localhost.:{p}")), "42501").await;
    if let Some(name) = &alias {
        let e = refused(&c, &s3("s_alias", &format!("http://{name}:{p}")), "42501").await;
        assert!(e.contains("loopback"), "{e}");
    }
    assert!(api.requests().is_empty(), "sent: {:?}", api.requests());
    assert_eq!(
        query_text(
            &c,
            "SELECT count(*) FROM voidx.catalog WHERE kind = 'external'"
        )
        .await,
        vec![vec!["0"]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_spellings_outside_the_allowed_dirs_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let allowed = root.join("allowed");
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::write(root.join("secret.csv"), "x\n666\n").unwrap();
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
    let r = root.display().to_string();
    for (i, location) in [
        "file:etc/passwd".to_string(),
        "FILE:///etc/passwd".to_string(),
        "file:////etc/passwd".to_string(),
        "file:/%2fetc/passwd".to_string(),
        format!("file:{a}/%2e%2e/secret.csv"),
        format!("file:{a}/%2e%2e%2fsecret.csv"),
        format!("{a}/%2e%2e/secret.csv/.."),
        format!("{a}//../secret.csv"),
        format!("{r}/allowed/../secret.csv"),
        format!("{a}/./../secret.csv"),
    ]
    .iter()
    .enumerate()
    {
        let sql = format!(
            "CREATE EXTERNAL TABLE f{i} STORED AS CSV LOCATION '{location}' OPTIONS ('format.has_header' 'true')"
        );
        let e = error_of(&c, &sql).await;
        assert!(!e.contains("666"), "{location}: {e}");
    }
    for (i, location) in [
        "s3://bucket/raw/.%2E/secret/a.csv",
        "s3://bucket/raw/%2E./secret/a.csv",
        "s3://bucket/raw/sub/../../secret/a.csv",
        "s3://BUCKET/raw/a.csv",
        "s3://bucket/RAW/a.csv",
        "s3://bucket/rawx/a.csv",
    ]
    .iter()
    .enumerate()
    {
        let sql = format!("CREATE EXTERNAL TABLE o{i} STORED AS CSV LOCATION '{location}'");
        let e = error_of(&c, &sql).await;
        assert!(
            e.starts_with("42501") || e.starts_with("22023"),
            "{location}: {e}"
        );
    }
    assert_eq!(
        query_text(
            &c,
            "SELECT count(*) FROM voidx.catalog WHERE kind = 'external'"
        )
        .await,
        vec![vec!["0"]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_cannot_be_changed_or_read_across_sessions_by_other_spellings() {
    let tmp = tempfile::tempdir().unwrap();
    let env = [
        ROOT_AND_ANALYST.as_slice(),
        &[("VOIDX_SERVE__API_KEYS", "serve-key-secret")],
    ]
    .concat();
    let server = Server::start_with(&tmp.path().join("data"), &[], &env);
    let admin = server.client_as("root", "root password").await;
    let ann = server.client_as("ann", "analyst password").await;
    let memory = "SHOW datafusion.runtime.memory_limit";
    let before = query_text(&admin, memory).await;
    for sql in [
        "SET DATAFUSION.RUNTIME.MEMORY_LIMIT = '1000G'",
        "SET Datafusion.Runtime.Memory_Limit TO '1000G'",
        "SET \"datafusion.runtime.memory_limit\" = '1000G'",
        "SET \"datafusion\".\"runtime\".\"memory_limit\" = '1000G'",
        "SET SESSION datafusion.runtime.memory_limit TO '1000G'",
        "SET datafusion.runtime.temp_directory TO DEFAULT",
        "SET datafusion.execution.target_partitions = DEFAULT",
        "RESET \"datafusion.runtime.memory_limit\"",
    ] {
        for who in [&admin, &ann] {
            refused(who, sql, "42501").await;
        }
    }
    // Several assignments in one SET are not PostgreSQL syntax.
    error_of(
        &ann,
        "SET datafusion.runtime.memory_limit = '1000G', datafusion.execution.time_zone = 'UTC'",
    )
    .await;
    // No function changes a setting either (set_config is not there).
    for sql in [
        "SELECT set_config('datafusion.runtime.memory_limit', '1000G', false)",
        "SELECT set_config('datafusion.execution.time_zone', '+07:00', false)",
    ] {
        error_of(&ann, sql).await;
    }
    assert_eq!(query_text(&admin, memory).await, before);
    assert_eq!(query_text(&ann, memory).await, before);

    // One session's settings are not visible from another, by any view.
    exec(&admin, "SET datafusion.execution.time_zone = '+07:00'").await;
    for sql in [
        "SHOW ALL",
        "SELECT * FROM information_schema.df_settings",
        "SELECT * FROM pg_catalog.pg_settings",
        "SHOW datafusion.execution.time_zone",
    ] {
        let seen = format!("{:?}", query_text(&ann, sql).await);
        assert!(!seen.contains("+07:00"), "{sql}: {seen}");
        // Nor any server secret.
        for secret in ["root password", "analyst password", "serve-key-secret"] {
            assert!(!seen.contains(secret), "{sql} shows a secret: {seen}");
        }
    }
    error_of(
        &ann,
        "SELECT current_setting('datafusion.execution.time_zone')",
    )
    .await;
    let own = format!(
        "{:?}",
        query_text(&admin, "SHOW datafusion.execution.time_zone").await
    );
    assert!(own.contains("+07:00"), "{own}");
}

/// The data files below `dir` (recursively), for pointing a forged log at.
fn parquet_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(parquet_files(&path));
        } else if path.extension().is_some_and(|e| e == "parquet") {
            found.push(path);
        }
    }
    found
}

/// Writes Delta commit `version` at `table`: for version 0 the protocol and
/// a one-column (`x BIGINT`) schema, then one add action naming `file_path`.
fn forge_commit(table: &std::path::Path, version: u64, file_path: &str, size: u64) {
    let log = table.join("_delta_log");
    std::fs::create_dir_all(&log).unwrap();
    let mut lines = Vec::new();
    if version == 0 {
        lines.push(r#"{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}"#.to_string());
        lines.push(
            serde_json::json!({"metaData": {
                "id": "00000000-0000-0000-0000-000000000001",
                "format": {"provider": "parquet", "options": {}},
                "schemaString": r#"{"type":"struct","fields":[{"name":"x","type":"long","nullable":true,"metadata":{}}]}"#,
                "partitionColumns": [], "configuration": {}, "createdTime": 1_700_000_000_000u64
            }})
            .to_string(),
        );
    }
    lines.push(
        serde_json::json!({"add": {
            "path": file_path, "partitionValues": {}, "size": size,
            "modificationTime": 1_700_000_000_000u64, "dataChange": true
        }})
        .to_string(),
    );
    std::fs::write(
        log.join(format!("{version:020}.json")),
        lines.join("\n") + "\n",
    )
    .unwrap();
}

/// An external Delta table lives in an allowed directory, but its log names
/// the data files, and delta-rs follows absolute URLs, absolute paths and
/// `..` there. A forged log naming another table's file (here a managed
/// table of the data directory) is refused with 42501 — at CREATE, and when
/// such a commit appears after the table was created. The same log naming a copy inside the table is read,
/// so the refusals are about the paths, not the forged log's shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_delta_logs_cannot_name_files_outside_their_table() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let allowed = root.join("allowed");
    std::fs::create_dir_all(&allowed).unwrap();
    let a = allowed.display().to_string();
    let server = Server::start_with(
        &root.join("data"),
        &[],
        &[("VOIDX_INGEST__ALLOWED_DIRS", &a)],
    );
    let c = server.client().await;
    exec(&c, "CREATE TABLE secret AS SELECT CAST(666 AS BIGINT) AS x").await;
    let secret = parquet_files(&root.join("data").join("tables"))
        .into_iter()
        .find(|p| p.to_string_lossy().contains("/secret-"))
        .expect("the managed table's data file");
    let size = std::fs::metadata(&secret).unwrap().len();
    let from_allowed = secret.strip_prefix(&root).unwrap().display().to_string();

    // The control: the same log shape naming a file inside the table.
    let ok = allowed.join("ok");
    std::fs::create_dir_all(&ok).unwrap();
    std::fs::copy(&secret, ok.join("part-0.parquet")).unwrap();
    forge_commit(&ok, 0, "part-0.parquet", size);
    exec(
        &c,
        &format!(
            "CREATE EXTERNAL TABLE ok STORED AS DELTATABLE LOCATION '{}'",
            ok.display()
        ),
    )
    .await;
    assert_eq!(query_text(&c, "SELECT x FROM ok").await, vec![vec!["666"]]);

    for (name, path) in [
        ("abs_url", format!("file://{}", secret.display())),
        ("abs_path", secret.display().to_string()),
        ("dotdot", format!("../../{from_allowed}")),
        ("encoded", format!("%2E%2E/%2e%2e/{from_allowed}")),
        // Decoded, `?` and `#` would end the path before the `..`s; the
        // scan resolves the encoded form, where they do not.
        ("query", format!("x%3F/../../../{from_allowed}")),
        ("fragment", format!("x%23/../../../{from_allowed}")),
    ] {
        let dir = allowed.join(name);
        forge_commit(&dir, 0, &path, size);
        let e = refused(
            &c,
            &format!(
                "CREATE EXTERNAL TABLE {name} STORED AS DELTATABLE LOCATION '{}'",
                dir.display()
            ),
            "42501",
        )
        .await;
        assert!(e.contains("outside the table's location"), "{name}: {e}");
    }

    // A commit naming the secret file after the table was created: every
    // later read is refused (twice: the refused version is not cached).
    forge_commit(&ok, 1, &format!("file://{}", secret.display()), size);
    for _ in 0..2 {
        let e = refused(&c, "SELECT x FROM ok", "42501").await;
        assert!(e.contains("outside the table's location"), "{e}");
    }
    refused(&c, "SELECT x FROM table_at('ok', 1)", "42501").await;
    assert_eq!(
        query_text(
            &c,
            "SELECT count(*) FROM voidx.catalog WHERE kind = 'external'"
        )
        .await,
        vec![vec!["1"]],
        "only the clean table was stored"
    );
}
