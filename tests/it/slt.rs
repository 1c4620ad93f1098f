//! SQL behaviour as sqllogictest files (`tests/slt/*.slt`), each against a
//! fresh server and data directory, through the real pgwire front end.
//! `VOIDX_SLT_COMPLETE=1 cargo test --test it slt` regenerates expected output.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};
use tokio_postgres::SimpleQueryMessage;

use crate::common::{Server, connect, describe_error};

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
                types: vec![DefaultColumnType::Any; n],
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

fn slt_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files in {}", dir.display());
    files
}

async fn run_file(path: &Path) {
    let tmp = tempfile::tempdir().expect("tempdir");
    // External tables in the files live under sqllogictest's own
    // $__TEST_DIR__ (a fresh directory under the system temp dir).
    let dirs = std::env::temp_dir().display().to_string();
    let server = Server::start_with(
        &tmp.path().join("data"),
        &[],
        &[
            ("VOIDX_INGEST__ALLOWED_DIRS", dirs.as_str()),
            // COPY … TO in the files writes below $__TEST_DIR__ (also under the
            // system temp dir, beside — not inside — the data directory).
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
    // Files may refer to a scratch directory for external tables.
    runner.set_var("__TEST_DIR__".into(), tmp.path().display().to_string());
    runner.with_normalizer(|s| s.trim().to_string());
    if std::env::var_os("VOIDX_SLT_COMPLETE").is_some() {
        runner
            .update_test_file(
                path,
                " ",
                sqllogictest::default_validator,
                sqllogictest::default_normalizer,
                sqllogictest::default_column_validator,
            )
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    if let Err(e) = runner.run_file_async(path).await {
        panic!(
            "{}\n{}\n--- server log ---\n{}",
            path.display(),
            e.display(true),
            server.log_text()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictest_files() {
    for file in slt_files() {
        run_file(&file).await;
    }
}
