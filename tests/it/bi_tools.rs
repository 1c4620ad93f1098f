//! BI tools and drivers against a real server, one test each: SQLAlchemy's
//! reflection as Superset runs it (psycopg 3), node-postgres (npm `pg`),
//! pgjdbc (what DBeaver and Metabase connect through), and the startup and
//! introspection queries Metabase, Grafana and DBeaver send, replayed from
//! tests/clients/startup_queries.sql. A missing client (Python venv, node
//! and npm, java and the pgjdbc jar) fails the test: scripts/test.sh
//! installs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tokio_postgres::SimpleQueryMessage;

use crate::common::{Server, exec, require_python};

const CLIENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients");

/// Runs `command` (with the server's port as its last argument) off the
/// async runtime and asserts it succeeded, printing its output and the
/// server's log when it did not.
async fn run_client(server: Server, mut command: Command, what: &str) -> Server {
    command.arg(server.pg_port.to_string());
    let (out, server) = tokio::task::spawn_blocking(move || {
        let out = command.output();
        (out, server)
    })
    .await
    .unwrap();
    let out: Output = out.unwrap_or_else(|e| panic!("{what} could not start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}\n--- server log ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlalchemy_reflection_as_superset_runs_it() {
    let python = require_python();
    let (_tmp, server) = Server::start_temp(&[]);
    let mut command = Command::new(python);
    command.arg(format!("{CLIENTS}/reflection.py"));
    run_client(server, command, "reflection.py").await;
}

/// `name` on PATH (or the override), else a failure that says how to get it.
fn require_tool(env: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    let found = std::env::var_os("PATH").map(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    found.flatten().unwrap_or_else(|| {
        panic!("{name} not found (or set {env}); run `bash scripts/test.sh`, which installs it")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_postgres_queries_types_and_errors() {
    let node = require_tool("VOIDXTEST_NODE", "node");
    let npm = require_tool("VOIDXTEST_NPM", "npm");
    let (tmp, server) = Server::start_temp(&[]);
    // The probe and its package.json in the test's own directory; npm's
    // cache (~/.npm) makes a repeated install quick.
    let dir = tmp.path().join("node");
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["package.json", "probe.js"] {
        std::fs::copy(Path::new(CLIENTS).join("node").join(file), dir.join(file)).unwrap();
    }
    let install = Command::new(npm)
        .args(["install", "--no-audit", "--no-fund", "--silent"])
        .current_dir(&dir)
        .output()
        .expect("run npm install");
    assert!(
        install.status.success(),
        "npm install pg failed: {}",
        String::from_utf8_lossy(&install.stderr)
    );
    let mut command = Command::new(node);
    command.arg(dir.join("probe.js"));
    run_client(server, command, "node probe.js").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgjdbc_metadata_prepared_statements_and_types() {
    let java = require_tool("VOIDXTEST_JAVA", "java");
    let jar = std::env::var_os("VOIDXTEST_PGJDBC")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/java/postgresql.jar"));
    assert!(
        jar.is_file(),
        "{} not found (or set VOIDXTEST_PGJDBC); run `bash scripts/test.sh`, which installs libpostgresql-jdbc-java",
        jar.display()
    );
    let (_tmp, server) = Server::start_temp(&[]);
    let mut command = Command::new(java);
    command
        .arg("-cp")
        .arg(&jar)
        .arg(format!("{CLIENTS}/Probe.java"));
    run_client(server, command, "java Probe.java").await;
}

/// The queries of tests/clients/startup_queries.sql, each with the tool
/// that sends it.
fn startup_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(format!("{CLIENTS}/startup_queries.sql")).unwrap();
    let mut out = Vec::new();
    let (mut tool, mut sql) = (String::new(), String::new());
    for line in text.lines() {
        match line.strip_prefix("-- ") {
            Some("end") => {
                out.push((tool.clone(), sql.trim().to_string()));
                sql.clear();
            }
            Some(name) if sql.is_empty() && !name.contains(' ') => tool = name.to_string(),
            Some(_) if sql.is_empty() => {}
            _ => {
                sql.push_str(line);
                sql.push('\n');
            }
        }
    }
    out
}

/// Rows of `sql` (simple protocol, as the tools send these), each as its
/// fields joined by `|` (NULL as empty).
async fn rows(c: &tokio_postgres::Client, sql: &str) -> Result<Vec<String>, tokio_postgres::Error> {
    Ok(c.simple_query(sql)
        .await?
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or_default().to_string())
                    .collect::<Vec<_>>()
                    .join("|"),
            ),
            _ => None,
        })
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metabase_grafana_and_dbeaver_startup_queries_answer() {
    let (_tmp, server) = Server::start_temp(&[]);
    let c = server.client().await;
    exec(
        &c,
        "CREATE SCHEMA shop;
         CREATE TABLE shop.orders (id BIGINT, amount DECIMAL(10,2));
         CREATE TABLE public.games (id BIGINT NOT NULL, title VARCHAR);
         CREATE VIEW public.titles AS SELECT title FROM public.games;
         COMMENT ON TABLE public.games IS 'one row per game'",
    )
    .await;
    let queries = startup_queries();
    assert_eq!(queries.len(), 31, "the recorded queries");
    let mut answers = Vec::new();
    let mut failed = Vec::new();
    for (tool, sql) in &queries {
        match rows(&c, sql).await {
            Ok(r) => answers.push((tool.as_str(), sql.as_str(), r)),
            Err(e) => failed.push(format!("{tool}: {e:?}\n{sql}")),
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
    let answer = |needle: &str| -> &Vec<String> {
        &answers
            .iter()
            .find(|(_, sql, _)| sql.contains(needle))
            .unwrap_or_else(|| panic!("no query with {needle}"))
            .2
    };
    // Metabase: schemas, then the tables it may read, then the table list
    // of schema public with kinds and comments.
    let schemas = answer(r#"AS "TABLE_SCHEM""#);
    assert!(schemas.contains(&"shop|voidx".to_string()), "{schemas:?}");
    let privileges = answer("with table_privileges");
    assert!(
        privileges.contains(&"|shop|orders|t|t|t|t".to_string()),
        "{privileges:?}"
    );
    assert_eq!(
        answer(r#"AS "estimated_row_count""#),
        &vec![
            "public|games|TABLE|one row per game|".to_string(),
            "public|titles|VIEW||".to_string()
        ]
    );
    // Grafana: every table outside the system schemas (qualified even on the
    // search path, unlike PostgreSQL: docs/sql.md), then the columns of public.games.
    let tables = answer(r#"END AS "table""#);
    for t in ["public.games", "public.titles", "shop.orders"] {
        assert!(tables.contains(&t.to_string()), "{t} in {tables:?}");
    }
    // (The type column is DataFusion's information_schema name, `Int64`,
    // where PostgreSQL says `bigint`: docs/sql.md.)
    let columns: Vec<String> = answer(r#"AS "column""#)
        .iter()
        .map(|r| r.split('|').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(columns, ["id", "title"]);
    // DBeaver: schemas with their descriptions, and the element type test of an array type.
    let namespaces = answer("SELECT n.oid,n.*,d.description");
    assert!(
        namespaces.iter().any(|r| r.contains("|shop|")),
        "{namespaces:?}"
    );
    assert!(
        namespaces
            .iter()
            .any(|r| r.contains("|pg_catalog|") && r.ends_with("system catalog schema")),
        "{namespaces:?}"
    );
    assert_eq!(
        answer("as is_array"),
        &vec!["t|b|_aclitem|1034".to_string()]
    );
}
