//! Delta Lake in SQL: `table_at`, `table_history`, `optimize`, `vacuum`.
//!
//! ```sql
//! SELECT * FROM table_at('shop.orders', 3);
//! SELECT version, operation, rows_added FROM table_history('shop.orders');
//! ```

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Int64Builder, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use futures::{FutureExt, StreamExt};
use voidx_udfs::{Documented, SqlDoc, SqlFunction};

use super::catalog::{Catalog, DEFAULT_SCHEMA, Entry};
use super::delta;
use super::lazy::LazyTable;
use super::managed_table::ManagedTable;
use crate::error::VoidxError;

/// Every table function of this module, with its documentation.
pub fn functions(catalog: &Arc<Catalog>) -> Vec<SqlFunction> {
    vec![
        SqlFunction::table(TableAt(Arc::clone(catalog))),
        SqlFunction::table(TableHistory(Arc::clone(catalog))),
        SqlFunction::table(Optimize(Arc::clone(catalog))),
        SqlFunction::table(Vacuum(Arc::clone(catalog))),
    ]
}

pub(crate) fn literal_str(args: &[Expr], i: usize, func: &str, what: &str) -> Result<String> {
    match args.get(i) {
        Some(Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)),
            _,
        )) => Ok(s.clone()),
        _ => Err(VoidxError::InvalidArgument(format!(
            "{func}: argument {} must be {what} as a string literal",
            i + 1
        ))
        .into()),
    }
}

pub(crate) fn literal_int(args: &[Expr], i: usize, func: &str, what: &str) -> Result<Option<i64>> {
    match args.get(i) {
        None => Ok(None),
        Some(Expr::Literal(v, _)) if !v.is_null() => match v.cast_to(&DataType::Int64)? {
            ScalarValue::Int64(Some(n)) => Ok(Some(n)),
            _ => Err(VoidxError::InvalidArgument(format!(
                "{func}: argument {} must be {what}",
                i + 1
            ))
            .into()),
        },
        _ => Err(VoidxError::InvalidArgument(format!(
            "{func}: argument {} must be {what} as a literal",
            i + 1
        ))
        .into()),
    }
}

/// 'shop.orders' or 'orders' (schema public) → the Delta-backed entry.
fn delta_entry(catalog: &Catalog, name: &str, func: &str) -> Result<Entry> {
    let (schema, table) = match name.split_once('.') {
        Some((s, t)) => (s.to_ascii_lowercase(), t.to_ascii_lowercase()),
        None => (DEFAULT_SCHEMA.to_string(), name.to_ascii_lowercase()),
    };
    let entry = catalog.get(&schema, &table).ok_or_else(|| {
        VoidxError::UndefinedTable(format!(
            "{func}: relation \"{schema}.{table}\" does not exist. Help: SELECT schema, name FROM voidx.tables"
        ))
    })?;
    if !entry.is_delta() {
        return Err(VoidxError::InvalidArgument(format!(
            "{func}: {} is a {}, not a Delta table",
            entry.qualified(),
            entry.kind.as_str()
        ))
        .into());
    }
    Ok(entry)
}

fn location(entry: &Entry) -> String {
    entry.location.clone().unwrap_or_default()
}

/// Table functions are planned synchronously but a version's schema must be
/// read from its log; do that on the current runtime without blocking others.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

#[derive(Debug)]
pub struct TableAt(Arc<Catalog>);

impl Documented for TableAt {
    const DOC: SqlDoc = SqlDoc {
        name: "table_at",
        kind: "table",
        syntax: "table_at(table_name, version)",
        description: "Reads a managed (or external Delta) table as it was at a past Delta version: time travel. The result is read-only.",
        arguments: &[
            ("table_name", "'schema.table' (or 'table' in schema public)"),
            ("version", "a version listed by table_history"),
        ],
        example: "SELECT count(*) FROM table_at('shop.orders', 0);",
    };
}

impl TableFunctionImpl for TableAt {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        let name = literal_str(exprs, 0, "table_at", "the table name")?;
        let version = literal_int(exprs, 1, "table_at", "a version number")?.ok_or_else(|| {
            DataFusionError::from(VoidxError::InvalidArgument(
                "table_at needs a version: table_at('schema.table', 3)".into(),
            ))
        })?;
        if version < 0 {
            return Err(VoidxError::InvalidArgument(format!(
                "table_at: version {version} is negative; versions start at 0"
            ))
            .into());
        }
        let entry = delta_entry(&self.0, &name, "table_at")?;
        let loc = location(&entry);
        // Check against the latest version first: asking Delta for a version
        // far past the end makes it probe the log for a very long time.
        let latest = block_on(self.0.delta_table(&loc))
            .map_err(DataFusionError::from)?
            .version()
            .map_or(0, |v| i64::try_from(v).unwrap_or(i64::MAX));
        if version > latest {
            return Err(VoidxError::InvalidArgument(format!(
                "table_at: {} has no version {version}; the latest is {latest}. Help: SELECT version FROM table_history('{}')",
                entry.qualified(),
                entry.qualified()
            ))
            .into());
        }
        let table = block_on(delta::open_at(&loc, version as u64)).map_err(|e| match e {
            VoidxError::NotAllowed(_) => DataFusionError::from(e),
            e => DataFusionError::from(VoidxError::InvalidArgument(format!(
                "table_at: {} has no version {version} ({}). Help: SELECT version FROM table_history('{}')",
                entry.qualified(),
                e.client_message(),
                entry.qualified()
            ))),
        })?;
        let provider = block_on(ManagedTable::try_new(
            format!("{}@{version}", entry.qualified()),
            table,
            true,
        ))?;
        Ok(Arc::new(provider))
    }
}

#[derive(Debug)]
pub struct TableHistory(Arc<Catalog>);

impl Documented for TableHistory {
    const DOC: SqlDoc = SqlDoc {
        name: "table_history",
        kind: "table",
        syntax: "table_history(table_name)",
        description: "One row per Delta commit of a table, newest first: version, commit time, operation, and the rows it added (written or updated, not rows merely copied by copy-on-write) or removed, and its file counts — from the commit's operation metrics; NULL when the writer did not record them.",
        arguments: &[("table_name", "'schema.table'")],
        example: "SELECT version, timestamp, operation, rows_added, rows_removed FROM table_history('shop.orders');",
    };
}

impl TableHistory {
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("version", DataType::Int64, false),
            Field::new(
                "timestamp",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            ),
            Field::new("operation", DataType::Utf8, true),
            Field::new("rows_added", DataType::Int64, true),
            Field::new("rows_removed", DataType::Int64, true),
            Field::new("files_added", DataType::Int64, true),
            Field::new("files_removed", DataType::Int64, true),
            Field::new("parameters", DataType::Utf8, true),
        ]))
    }
}

fn metric(metrics: Option<&serde_json::Value>, keys: &[&str]) -> Option<i64> {
    let metrics = metrics?;
    let mut found = None;
    for key in keys {
        let value = metrics.get(*key).and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        });
        if let Some(v) = value {
            found = Some(found.unwrap_or(0i64).saturating_add(v));
        }
    }
    found
}

async fn history_batch(catalog: Arc<Catalog>, entry: Entry) -> Result<Vec<RecordBatch>> {
    let table = catalog.delta_table(&location(&entry)).await?;
    let latest = table.version().unwrap_or(0) as i64;
    let commits: Vec<_> = table.history(None).collect().await;
    let mut version = Int64Builder::new();
    let mut ts = TimestampMillisecondBuilder::new().with_timezone("UTC");
    let mut op = StringBuilder::new();
    let (mut rows_added, mut rows_removed) = (Int64Builder::new(), Int64Builder::new());
    let (mut files_added, mut files_removed) = (Int64Builder::new(), Int64Builder::new());
    let mut params = StringBuilder::new();
    for (i, commit) in commits.into_iter().enumerate() {
        let commit = commit.map_err(|e| DataFusionError::External(Box::new(e)))?;
        let metrics = commit.info.get("operationMetrics");
        // history() yields newest first; versions are contiguous.
        version.append_value(
            commit
                .read_version
                .map(|v| v as i64 + 1)
                .unwrap_or(latest - i as i64),
        );
        ts.append_option(commit.timestamp);
        op.append_option(commit.operation.as_deref());
        rows_added.append_option(metric(
            metrics,
            &["num_added_rows", "numOutputRows", "num_updated_rows"],
        ));
        rows_removed.append_option(metric(metrics, &["num_deleted_rows", "numDeletedRows"]));
        files_added.append_option(metric(
            metrics,
            &[
                "num_added_files",
                "numFiles",
                "numAddedFiles",
                "num_files_added",
            ],
        ));
        files_removed.append_option(metric(
            metrics,
            &["num_removed_files", "numRemovedFiles", "num_files_removed"],
        ));
        params.append_option(
            commit
                .operation_parameters
                .as_ref()
                .and_then(|p| serde_json::to_string(p).ok()),
        );
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(version.finish()),
        Arc::new(ts.finish()),
        Arc::new(op.finish()),
        Arc::new(rows_added.finish()),
        Arc::new(rows_removed.finish()),
        Arc::new(files_added.finish()),
        Arc::new(files_removed.finish()),
        Arc::new(params.finish()),
    ];
    Ok(vec![RecordBatch::try_new(TableHistory::schema(), columns)?])
}

impl TableFunctionImpl for TableHistory {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let name = literal_str(args.exprs(), 0, "table_history", "the table name")?;
        let entry = delta_entry(&self.0, &name, "table_history")?;
        let catalog = Arc::clone(&self.0);
        LazyTable::try_new(
            TableHistory::schema(),
            Arc::new(move || history_batch(Arc::clone(&catalog), entry.clone()).boxed()),
        )
    }
}

fn maintenance_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("table_name", DataType::Utf8, false),
        Field::new("version", DataType::Int64, true),
        Field::new("files_added", DataType::Int64, false),
        Field::new("files_removed", DataType::Int64, false),
    ]))
}

fn maintenance_batch(
    name: &str,
    version: Option<i64>,
    added: i64,
    removed: i64,
) -> Result<Vec<RecordBatch>> {
    Ok(vec![RecordBatch::try_new(
        maintenance_schema(),
        vec![
            Arc::new(arrow::array::StringArray::from(vec![name.to_string()])),
            Arc::new(arrow::array::Int64Array::from(vec![version])),
            Arc::new(arrow::array::Int64Array::from(vec![added])),
            Arc::new(arrow::array::Int64Array::from(vec![removed])),
        ],
    )?])
}

#[derive(Debug)]
pub struct Optimize(Arc<Catalog>);

impl Documented for Optimize {
    const DOC: SqlDoc = SqlDoc {
        name: "optimize",
        kind: "table",
        syntax: "optimize(table_name)",
        description: "Compacts a table's small files into larger ones in one Delta commit (bin-packing). Readers are not disturbed; old files stay until vacuum removes them.",
        arguments: &[("table_name", "'schema.table' of a managed table")],
        example: "SELECT * FROM optimize('shop.orders');",
    };
}

impl TableFunctionImpl for Optimize {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let name = literal_str(args.exprs(), 0, "optimize", "the table name")?;
        let entry = delta_entry(&self.0, &name, "optimize")?;
        read_write_check(&entry, "optimize")?;
        let catalog = Arc::clone(&self.0);
        LazyTable::try_new(
            maintenance_schema(),
            Arc::new(move || {
                let (catalog, entry) = (Arc::clone(&catalog), entry.clone());
                async move {
                    let progress = crate::progress::current();
                    let table = catalog.delta_table(&location(&entry)).await?;
                    progress.note(
                        format!(
                            "optimizing {} at version {}: compacting small files",
                            entry.qualified(),
                            table.version().unwrap_or_default()
                        ),
                        None,
                    );
                    let (table, metrics) = table
                        .optimize()
                        .await
                        .map_err(|e| DataFusionError::External(Box::new(e)))?;
                    progress.note(
                        format!(
                            "optimized {}: {} files rewritten into {}, now version {}",
                            entry.qualified(),
                            metrics.num_files_removed,
                            metrics.num_files_added,
                            table.version().unwrap_or_default()
                        ),
                        None,
                    );
                    maintenance_batch(
                        &entry.qualified(),
                        table.version().map(|v| v as i64),
                        metrics.num_files_added as i64,
                        metrics.num_files_removed as i64,
                    )
                }
                .boxed()
            }),
        )
    }
}

fn read_write_check(entry: &Entry, func: &str) -> Result<()> {
    if entry.kind != super::catalog::Kind::Table {
        return Err(VoidxError::ReadOnly(format!(
            "{func}: {} is an external table; VOIDX only maintains tables it manages",
            entry.qualified()
        ))
        .into());
    }
    Ok(())
}

/// The longest retention `vacuum` accepts: 100 years. Anything longer is a
/// typo, and letting it reach Delta would overflow (the old code wrapped a
/// huge value round to retention 0, which deletes every unreferenced file).
const MAX_RETENTION_HOURS: i64 = 100 * 366 * 24;

/// `retention_hours` as a duration, refusing values that make no sense
/// instead of letting them overflow into "retain nothing".
fn retention_period(hours: i64) -> Result<chrono::Duration> {
    if hours < 0 {
        return Err(VoidxError::InvalidArgument(format!(
            "vacuum: retention_hours must be 0 or more, got {hours}. Help: SELECT * FROM vacuum('schema.table', 168) keeps a week of history"
        ))
        .into());
    }
    if hours > MAX_RETENTION_HOURS {
        return Err(VoidxError::InvalidArgument(format!(
            "vacuum: retention_hours {hours} is more than {MAX_RETENTION_HOURS} (100 years). Help: to keep every file, do not vacuum; SELECT * FROM vacuum('schema.table', 168) keeps a week"
        ))
        .into());
    }
    // Bounded above, so neither the multiplication nor the conversion can fail.
    hours
        .checked_mul(3600)
        .and_then(chrono::Duration::try_seconds)
        .ok_or_else(|| {
            VoidxError::InvalidArgument(format!("vacuum: retention_hours {hours} is out of range"))
                .into()
        })
}

#[derive(Debug)]
pub struct Vacuum(Arc<Catalog>);

impl Documented for Vacuum {
    const DOC: SqlDoc = SqlDoc {
        name: "vacuum",
        kind: "table",
        syntax: "vacuum(table_name [, retention_hours])",
        description: "Deletes data files no longer referenced by versions younger than the retention period (default 168 hours, Delta's default). Time travel to versions older than the retention stops working for those files.",
        arguments: &[
            ("table_name", "'schema.table' of a managed table"),
            (
                "retention_hours",
                "keep files needed by versions younger than this; 0 removes every unreferenced file",
            ),
        ],
        example: "SELECT * FROM vacuum('shop.orders', 0);",
    };
}

impl TableFunctionImpl for Vacuum {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let name = literal_str(args.exprs(), 0, "vacuum", "the table name")?;
        let hours = literal_int(args.exprs(), 1, "vacuum", "retention hours")?.unwrap_or(168);
        let retention = retention_period(hours)?;
        let entry = delta_entry(&self.0, &name, "vacuum")?;
        read_write_check(&entry, "vacuum")?;
        let catalog = Arc::clone(&self.0);
        LazyTable::try_new(
            maintenance_schema(),
            Arc::new(move || {
                let (catalog, entry) = (Arc::clone(&catalog), entry.clone());
                async move {
                    let table = catalog.delta_table(&location(&entry)).await?;
                    let (table, metrics) = table
                        .vacuum()
                        .with_retention_period(retention)
                        .with_enforce_retention_duration(false)
                        .await
                        .map_err(|e| DataFusionError::External(Box::new(e)))?;
                    maintenance_batch(
                        &entry.qualified(),
                        table.version().map(|v| v as i64),
                        0,
                        metrics.files_deleted.len() as i64,
                    )
                }
                .boxed()
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_is_bounded_never_wrapped() {
        assert_eq!(retention_period(0).unwrap(), chrono::Duration::zero());
        assert_eq!(retention_period(168).unwrap(), chrono::Duration::hours(168));
        for bad in [
            -1,
            MAX_RETENTION_HOURS + 1,
            99_999_999_999_999_999,
            i64::MAX,
            i64::MIN,
        ] {
            let e = retention_period(bad).unwrap_err().to_string();
            assert!(e.contains("Help:"), "{e}");
        }
    }
}
