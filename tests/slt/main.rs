//! The sqllogictest runner (`[[test]] harness = false`): every
//! `tests/slt/*.slt` file against its own fresh server and data directory,
//! through the real pgwire front end, files in parallel.
//!
//! ```text
//! cargo test --test slt                     # every file
//! cargo test --test slt -- dml              # files whose name contains "dml"
//! cargo test --test slt -- --complete dml   # rewrite their expected output
//! ```
//!
//! Column types are checked (`query ITR`): `I` for integer columns, `R` for
//! floating-point and numeric, `T` for everything else, from the types the
//! server describes for the query.

#[path = "../it/common.rs"]
#[allow(dead_code, unused_imports)]
mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};
use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::types::Type;

use common::{Server, connect, describe_error};

/// Files run at once: each is a server process plus its client, and the
/// machines that run CI have two cores.
const PARALLEL: usize = 2;

struct PgConn {
    client: tokio_postgres::Client,
}

#[derive(Debug)]
struct SqlError(String);

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SqlError {}

fn column_type(t: &Type) -> DefaultColumnType {
    match *t {
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => DefaultColumnType::Integer,
        Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC => DefaultColumnType::FloatingPoint,
        _ => DefaultColumnType::Text,
    }
}

impl PgConn {
    /// The result column types, from the server's description of `sql`
    /// (the extended protocol's Describe, which runs nothing).
    async fn column_types(&self, sql: &str, n: usize) -> Vec<DefaultColumnType> {
        match self.client.prepare(sql).await {
            Ok(statement) if statement.columns().len() == n => statement
                .columns()
                .iter()
                .map(|c| column_type(c.type_()))
                .collect(),
            // Not describable on its own (several statements, a SET …):
            // nothing to check the letters against.
            _ => vec![DefaultColumnType::Any; n],
        }
    }
}

#[async_trait]
impl AsyncDB for PgConn {
    type Error = SqlError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SqlError> {
        let messages = self
            .client
            .simple_query(sql)
            .await
            .map_err(|e| SqlError(describe_error(&e)))?;
        let mut rows = Vec::new();
        let mut columns = None;
        let mut count = 0;
        for m in messages {
            match m {
                SimpleQueryMessage::RowDescription(cols) => columns = Some(cols.len()),
                SimpleQueryMessage::Row(row) => {
                    columns = Some(row.len());
                    rows.push(
                        (0..row.len())
                            .map(|i| match row.get(i) {
                                None => "NULL".to_string(),
                                Some("") => "(empty)".to_string(),
                                Some(v) => v.to_string(),
                            })
                            .collect(),
                    );
                }
                SimpleQueryMessage::CommandComplete(n) => count = n,
                _ => {}
            }
        }
        Ok(match columns {
            Some(n) => DBOutput::Rows {
                types: self.column_types(sql, n).await,
                rows,
            },
            None => DBOutput::StatementComplete(count),
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "voidx"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }
}

/// `I`/`R`/`T` must match, except where the connection could not tell.
#[allow(clippy::ptr_arg)] // the shape sqllogictest's ColumnTypeValidator requires
fn column_validator(actual: &Vec<DefaultColumnType>, expected: &Vec<DefaultColumnType>) -> bool {
    actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|(a, e)| a == e || *a == DefaultColumnType::Any || *e == DefaultColumnType::Any)
}

fn slt_files(filters: &[String]) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
        })
        .collect();
    files.sort();
    files
}

/// Runs (or with `complete`, rewrites) one file; the error text on failure.
async fn run_file(path: &Path, complete: bool) -> Result<(), String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    // External tables and COPY targets in the files live under
    // sqllogictest's `$__TEST_DIR__`, a fresh directory it makes under the
    // system temp dir (beside, not inside, the data directory).
    let dirs = std::env::temp_dir().display().to_string();
    let server = Server::start_with(
        &tmp.path().join("data"),
        &[],
        &[
            ("VOIDX_INGEST__ALLOWED_DIRS", dirs.as_str()),
            ("VOIDX_INGEST__ALLOWED_EXPORT_DIRS", dirs.as_str()),
        ],
    );
    let conn = server.conn_string();
    let mut runner = Runner::new(move || {
        let conn = conn.clone();
        async move {
            let client = connect(&conn).await.map_err(|e| SqlError(e.to_string()))?;
            Ok::<_, SqlError>(PgConn { client })
        }
    });
    runner.with_normalizer(|s| s.trim().to_string());
    runner.with_column_validator(column_validator);
    let outcome = if complete {
        runner
            .update_test_file(
                path,
                " ",
                sqllogictest::default_validator,
                sqllogictest::default_normalizer,
                column_validator,
            )
            .await
            .map_err(|e| e.to_string())
    } else {
        runner
            .run_file_async(path)
            .await
            .map_err(|e| e.display(true).to_string())
    };
    outcome.map_err(|e| format!("{e}\n--- server log ---\n{}", server.log_text()))
}

fn main() {
    // Arguments: file-name filters and `--complete`; what cargo and libtest
    // pass to every test binary (`--test-threads 2`, `--nocapture`, …) is
    // accepted and ignored.
    let mut complete = false;
    let mut filters = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--complete" => complete = true,
            "--test-threads" | "--skip" | "--format" | "--color" | "-Z" => {
                args.next();
            }
            a if a.starts_with('-') => {}
            _ => filters.push(arg),
        }
    }
    complete |= std::env::var_os("VOIDX_SLT_COMPLETE").is_some();
    let files = slt_files(&filters);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let results = runtime.block_on(async {
        let permits = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
        let mut tasks = tokio::task::JoinSet::new();
        for (i, file) in files.iter().cloned().enumerate() {
            let permits = Arc::clone(&permits);
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                (i, run_file(&file, complete).await)
            });
        }
        let mut results = vec![None; files.len()];
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((i, outcome)) => results[i] = Some(outcome),
                Err(e) => eprintln!("an slt task panicked: {e}"),
            }
        }
        results
    });
    let mut failed = 0;
    println!("\nrunning {} slt files", files.len());
    for (file, outcome) in files.iter().zip(&results) {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        match outcome {
            Some(Ok(())) => println!("test {name} ... ok"),
            Some(Err(e)) => {
                failed += 1;
                println!("test {name} ... FAILED\n{e}");
            }
            None => {
                failed += 1;
                println!("test {name} ... FAILED (the runner panicked)");
            }
        }
    }
    // libtest's summary line, which scripts/test.sh counts.
    println!(
        "\ntest result: {}. {} passed; {failed} failed; 0 ignored; 0 measured; 0 filtered out\n",
        if failed == 0 { "ok" } else { "FAILED" },
        files.len() - failed
    );
    if files.is_empty() && !filters.is_empty() {
        println!("no .slt file matches {filters:?}");
    }
    if failed > 0 {
        std::process::exit(1);
    }
}
