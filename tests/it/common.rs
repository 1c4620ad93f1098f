//! A real `voidx serve` process per test, on free loopback ports, with its
//! own data directory, and what tests set up around it — one module each:
//! [`sql`] (exec, expected errors, polling), [`crash`] (failpoint crashes),
//! [`fixtures`] (HTTP sources, webhooks, demo data, model files, logins),
//! [`http`] (a REST client). Their items are re-exported here, so a test
//! writes `use crate::common::{Server, exec, crash_at};`. [`azurite`] and
//! [`moto`] start the Azure and S3 servers a data directory on an object
//! store is tested against.
//!
//! ```ignore
//! let (_tmp, server) = Server::start_temp(&[("VOIDX_MONITOR__TICK_MS", "100")]);
//! let c = server.client().await;
//! exec(&c, "CREATE TABLE t AS SELECT 1 AS x").await;
//! ```

// Included by path from tests/it/main.rs and tests/slt/main.rs alike, so
// its modules are named by path from tests/it/.
#[path = "common/azurite.rs"]
pub mod azurite;
#[path = "common/crash.rs"]
pub mod crash;
#[path = "common/fixtures.rs"]
pub mod fixtures;
#[path = "common/http.rs"]
pub mod http;
#[path = "common/moto.rs"]
pub mod moto;
#[path = "common/psql.rs"]
pub mod psql;
#[path = "common/redis.rs"]
pub mod redis;
#[path = "common/sql.rs"]
pub mod sql;

pub use crash::crash_at;
pub use fixtures::{
    DEMO_TARGET, Mock, ROOT_AND_ANALYST, demo_table, http_fixture, model_fixture, train_sql,
    webhook_receiver,
};
pub use http::Http;
pub use psql::{basic, psql, psql_run};
pub use sql::{error_of, exec, refused, wait_for};

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[allow(dead_code)] // not every test binary module uses every field
pub struct Server {
    child: Option<Child>,
    pub pg_port: u16,
    pub http_port: u16,
    pub data_dir: PathBuf,
    pub log: PathBuf,
}

/// "127.0.0.1:5433: psql …" → 5433
fn port_of(text: &str) -> u16 {
    let addr = text.split([' ', ':']).nth(1).unwrap_or_default();
    addr.trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .expect("port in the start-up line")
}

/// The server binary. `VOIDXTEST_BIN` overrides it: checkouts that share
/// one target directory also share `target/debug/voidx`, so a test run can
/// pin a copy of its own build.
pub fn voidx_bin() -> PathBuf {
    std::env::var_os("VOIDXTEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_voidx")))
}

/// Runs `voidx sql --data-dir <data> <args>` (embedded, no server) with
/// `env`; asserts it succeeded and returns its stdout and stderr.
pub fn voidx_sql(data: &Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let out = Command::new(voidx_bin())
        .arg("sql")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run voidx sql");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "voidx sql {args:?} failed:\n{text}");
    text
}

/// The directory of the managed table `schema.name` in data directory
/// `data`: the one under `tables/<schema>` named `<name>-<suffix>`.
pub fn table_dir(data: &Path, schema: &str, name: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(data.join("tables").join(schema))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{name}-")))
        })
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Server {
    pub fn start(data_dir: &Path) -> Server {
        Server::start_with(data_dir, &[], &[])
    }

    /// A server on a fresh temporary directory (its data in `<tmp>/data`),
    /// which lives as long as the returned `TempDir`.
    pub fn start_temp(env: &[(&str, &str)]) -> (tempfile::TempDir, Server) {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let server = Server::start_with(&tmp.path().join("data"), &[], env);
        (tmp, server)
    }

    /// Start with extra flags and environment (e.g. `VOIDX_USERS__alice`).
    pub fn start_with(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let log = data_dir.with_extension(format!("{}.log", free_port()));
        Server::spawn(data_dir.as_os_str(), log, args, env)
    }

    /// A server whose data directory is `data_dir` as given (an object-store
    /// URL such as `az://voidx/data`), logging to `log`.
    pub fn start_at(data_dir: &str, log: &Path, env: &[(&str, &str)]) -> Server {
        Server::spawn(data_dir.as_ref(), log.to_path_buf(), &[], env)
    }

    fn spawn(
        data_dir: &std::ffi::OsStr,
        log: PathBuf,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        // Port 0: the server picks free ports and prints them, so parallel
        // tests never race for the same port.
        let log_file = std::fs::File::create(&log).expect("server log file");
        let mut cmd = Command::new(voidx_bin());
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--pg-addr")
            .arg("127.0.0.1:0")
            .arg("--http-addr")
            .arg("127.0.0.1:0")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(log_file);
        // Tests must not depend on the developer's environment.
        for (k, _) in std::env::vars() {
            if k.starts_with("VOIDX_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn voidx serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let mut server = Server {
            child: Some(child),
            pg_port: 0,
            http_port: 0,
            data_dir: PathBuf::from(data_dir),
            log,
        };
        let started = Instant::now();
        while server.pg_port == 0 || server.http_port == 0 {
            let remaining = Duration::from_secs(60).saturating_sub(started.elapsed());
            match rx.recv_timeout(remaining) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("PostgreSQL wire on ") {
                        server.pg_port = port_of(rest);
                    } else if let Some(rest) = line.strip_prefix("HTTP on http://") {
                        server.http_port = port_of(rest);
                    }
                }
                Err(_) => panic!(
                    "voidx serve did not start within 60 s: {}",
                    server.log_text()
                ),
            }
        }
        server
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn conn_string(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=voidx dbname=voidx",
            self.pg_port
        )
    }

    /// The connection string of a password login.
    pub fn login(&self, user: &str, password: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} password='{password}' dbname=voidx",
            self.pg_port
        )
    }

    /// A client logged in as `user` (see [`ROOT_AND_ANALYST`]).
    pub async fn client_as(&self, user: &str, password: &str) -> tokio_postgres::Client {
        connect(&self.login(user, password))
            .await
            .unwrap_or_else(|e| panic!("{user} logs in: {}", describe_error(&e)))
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        connect(&self.conn_string())
            .await
            .expect("connect to voidx")
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits (up to 60 s) for the process to end by itself, e.g. at a
    /// crash failpoint; its exit code, or None if it did not end.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// SIGTERM and wait: the clean shutdown path.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(20) {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            panic!("voidx serve did not stop within 20 s of SIGTERM");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub async fn connect(conn: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(conn, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// `SQLSTATE: message` of a failed statement (for assertions and snapshots).
pub fn describe_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let hint = db
                .hint()
                .map(|h| format!(" [hint: {h}]"))
                .unwrap_or_default();
            format!("{}: {}{hint}", db.code().code(), db.message())
        }
        None => format!("client error: {e}"),
    }
}

/// Rows of a simple query as text (NULL as "NULL").
pub async fn query_text(client: &tokio_postgres::Client, sql: &str) -> Vec<Vec<String>> {
    let messages = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", describe_error(&e)));
    messages
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| {
                        row.get(i)
                            .map(str::to_string)
                            .unwrap_or_else(|| "NULL".into())
                    })
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// A tool the test suite needs; `scripts/test.sh` installs it. Never skip silently.
pub fn require_tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| panic!("{name} is not installed; run `bash scripts/test.sh`, which installs what the tests need"))
}

/// Runs `script` (`python -c`) in the test venv with `args` and `env`,
/// asserts it succeeded (its stderr in the message) and returns its stdout.
pub fn run_python(script: &str, args: &[String], env: &[(&str, String)]) -> String {
    let out = Command::new(require_python())
        .arg("-c")
        .arg(script)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The Python of the test venv (real clients: psycopg, psycopg2, SQLAlchemy, pandas).
pub fn require_python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let python = std::env::var_os("VOIDXTEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or(venv);
    assert!(
        python.is_file(),
        "{} not found; run `bash scripts/test.sh`, which creates the venv with the client libraries",
        python.display()
    );
    python
}
