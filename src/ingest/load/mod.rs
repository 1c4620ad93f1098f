//! `ingest(target, query [, options_json])`: loads the rows of a source
//! query into a managed Delta table, validated, in one commit.
//!
//! 1. The target's high-water mark (if `watermark` is set) is read back from
//!    the target's own Delta log: every ingest commit carries its run id and
//!    watermark in the commit metadata, so the mark and the rows it covers
//!    are committed together — a crash can never advance one without the other.
//! 2. The query runs with `WHERE <watermark> > <mark>` added through the
//!    DataFrame API, so DataFusion pushes it into the source (REST query
//!    parameters, the SQL sent to PostgreSQL, Parquet statistics).
//! 3. Rows are aligned to the target schema (`schema_mode`), then checked
//!    against the quality rules: values that do not fit the column type,
//!    NOT NULL columns, the target's Delta CHECK constraints, and key
//!    uniqueness within the batch. Failing rows go to
//!    `<target>__quarantine` with the rule, the reason and the run id.
//! 4. The remaining rows are appended, merged on `key` or overwrite the
//!    table in one Delta commit. A batch that fails as a whole commits
//!    nothing and leaves the watermark where it was.
//! 5. Every call, successful or not, is a row of `voidx.ingest_runs`.

mod align;
mod options;
mod quality;
mod watermark;
mod write;

use align::{cast_column, delta_arrow_schema};
use options::{IngestOptions, Mode, SchemaMode};
use quality::{Violations, check_constraints, check_keys};
use watermark::max_as_text;
use write::{merge, quote_ident};

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;

use arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBuilder, RecordBatch, StringArray, new_null_array,
};
use arrow::compute::{cast_with_options, concat_batches, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::row::{RowConverter, SortField};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::error::Result as DfResult;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{SessionContext, col, lit};
use deltalake::DeltaTable;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use futures::{FutureExt, StreamExt};
use serde::{Deserialize, Serialize};
use voidx_udfs::{Documented, SqlDoc};

use crate::engine::Engine;
use crate::error::{Result, VoidxError};
use crate::policy::Policy;
use crate::storage::catalog::{DEFAULT_SCHEMA, Kind, SYSTEM_SCHEMA, now_ms};
use crate::storage::delta;
use crate::storage::functions::literal_str;
use crate::storage::lazy::LazyTable;
use crate::storage::system::SystemSchema;
use crate::storage::system_table::{SystemTable, ts};

/// The commit-metadata key of ingest commits.
const COMMIT_KEY: &str = "voidx.ingest";
/// How far back the log is searched for the last watermark.
const HISTORY_LIMIT: usize = 1000;

/// Set once the engine exists (the function needs the session and the
/// catalog to create tables); held weakly to avoid a cycle.
#[derive(Debug, Default)]
pub struct EngineSlot(OnceLock<Weak<Engine>>);

impl EngineSlot {
    pub fn set(&self, engine: &Arc<Engine>) {
        let _ = self.0.set(Arc::downgrade(engine));
    }

    fn get(&self) -> Result<Arc<Engine>> {
        self.0
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| VoidxError::Internal("the engine is shutting down".into()))
    }
}

#[derive(Debug)]
pub struct IngestFunction {
    engine: Arc<EngineSlot>,
    runs: Arc<SystemTable>,
    /// One ingest at a time per target, so watermarks never race.
    locks: Arc<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    _policy: Arc<Policy>,
}

/// One row of `voidx.ingest_runs`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IngestRun {
    pub run_id: String,
    pub target: String,
    pub source: String,
    pub mode: String,
    pub status: String,
    pub rows_read: i64,
    pub rows_written: i64,
    pub rows_quarantined: i64,
    pub watermark_column: Option<String>,
    pub watermark_before: Option<String>,
    pub watermark_after: Option<String>,
    pub delta_version: Option<i64>,
    pub started_at: i64,
    pub duration_ms: i64,
    pub error: Option<String>,
}

pub fn runs_schema() -> SchemaRef {
    let f = |n: &str, t: DataType, null: bool| Field::new(n, t, null);
    Arc::new(Schema::new(vec![
        f("run_id", DataType::Utf8, false),
        f("target", DataType::Utf8, false),
        f("source", DataType::Utf8, false),
        f("mode", DataType::Utf8, false),
        f("status", DataType::Utf8, false),
        f("rows_read", DataType::Int64, false),
        f("rows_written", DataType::Int64, false),
        f("rows_quarantined", DataType::Int64, false),
        f("watermark_column", DataType::Utf8, true),
        f("watermark_before", DataType::Utf8, true),
        f("watermark_after", DataType::Utf8, true),
        f("delta_version", DataType::Int64, true),
        f("started_at", ts(), false),
        f("duration_ms", DataType::Int64, false),
        f("error", DataType::Utf8, true),
    ]))
}

impl Documented for IngestFunction {
    const DOC: SqlDoc = SqlDoc {
        name: "ingest",
        kind: "table",
        syntax: "ingest(target, query [, options_json])",
        description: "Loads the rows of `query` (any SELECT, typically over an external table) into the managed Delta table `target` (`schema.table`; created from the source's columns on the first run). Rows are checked against the quality rules — values that do not fit the target column's type, NOT NULL columns, the target's CHECK constraints (`ALTER TABLE … ADD CONSTRAINT … CHECK (…)`) and key uniqueness within the batch — and rows that fail go to `<target>__quarantine` with `_rule`, `_reason` and `_run_id`; the rest commit in one Delta commit. With `watermark`, the run reads only rows whose watermark column is greater than the high-water mark of the last successful run (the predicate is pushed down to the source) and stores the new mark in the same commit. A run that fails as a whole commits nothing, leaves the watermark unchanged and returns an error. Every run is recorded in voidx.ingest_runs. Options: `mode` (append | merge | overwrite; default append), `key` (column or list; required for merge, where matched rows are updated and new rows inserted; duplicate keys in a batch keep the row with the highest watermark, else the last one read), `watermark` (column), `schema_mode` (strict: new source columns fail the run; evolve: they are added to the target; ignore: they are dropped. Target columns missing from the source are NULL, or fail the run when NOT NULL).",
        arguments: &[
            (
                "target",
                "the Delta table to load, `schema.table` (created on the first run)",
            ),
            ("query", "SQL whose rows are loaded (read-only)"),
            ("options_json", "JSON object of options (see above)"),
        ],
        example: "SELECT run_id, status, rows_read, rows_written, rows_quarantined, watermark_after\nFROM ingest('raw.orders', 'SELECT * FROM orders_api',\n            '{\"mode\": \"merge\", \"key\": \"order_id\", \"watermark\": \"updated_at\"}');",
    };
}

impl IngestFunction {
    pub async fn open(
        engine: &Arc<EngineSlot>,
        catalog: &Arc<crate::storage::catalog::Catalog>,
        system: &SystemSchema,
        policy: &Arc<Policy>,
    ) -> Result<IngestFunction> {
        let runs = SystemTable::open(catalog, system, "ingest_runs", runs_schema()).await?;
        Ok(IngestFunction {
            engine: Arc::clone(engine),
            runs: Arc::new(runs),
            locks: Arc::default(),
            _policy: Arc::clone(policy),
        })
    }
}

impl TableFunctionImpl for IngestFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if exprs.len() < 2 || exprs.len() > 3 {
            return Err(VoidxError::InvalidArgument(
                "ingest takes (target, query [, options_json])".into(),
            )
            .into());
        }
        let target = literal_str(exprs, 0, "ingest", "the target table")?;
        let query = literal_str(exprs, 1, "ingest", "the source query")?;
        let options_text = if exprs.len() > 2 {
            literal_str(exprs, 2, "ingest", "the options (JSON text)")?
        } else {
            "{}".to_string()
        };
        // Mistakes in the call surface at planning time, before any work.
        let options = IngestOptions::parse(&options_text)?;
        let (schema, name) = split_target(&target)?;
        let job = Arc::new(IngestJob {
            engine: Arc::clone(&self.engine),
            runs: Arc::clone(&self.runs),
            locks: Arc::clone(&self.locks),
            schema,
            name,
            query,
            options,
        });
        LazyTable::try_new(
            runs_schema(),
            Arc::new(move || {
                let job = Arc::clone(&job);
                async move {
                    let run = job.run().await?;
                    Ok(vec![crate::storage::system_table::to_batch(
                        &runs_schema(),
                        &[run],
                    )?])
                }
                .boxed()
            }),
        )
    }
}

/// `schema.table` or `table` → (schema, table); unquoted names fold to lower case.
fn split_target(target: &str) -> Result<(String, String)> {
    let parts: Vec<String> = target
        .split('.')
        .map(|p| {
            let p = p.trim();
            match p.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
                Some(quoted) => quoted.to_string(),
                None => p.to_ascii_lowercase(),
            }
        })
        .collect();
    let (schema, name) = match parts.as_slice() {
        [name] => (DEFAULT_SCHEMA.to_string(), name.clone()),
        [schema, name] => (schema.clone(), name.clone()),
        _ => {
            return Err(VoidxError::InvalidArgument(format!(
                "ingest target '{target}' must be 'schema.table' or 'table'"
            )));
        }
    };
    if name.is_empty() || schema.is_empty() {
        return Err(VoidxError::InvalidArgument(format!(
            "ingest target '{target}' must be 'schema.table' or 'table'"
        )));
    }
    if schema == SYSTEM_SCHEMA || schema == "pg_catalog" || schema == "information_schema" {
        return Err(VoidxError::ReadOnly(format!(
            "cannot ingest into the system schema '{schema}'. Help: choose another schema, e.g. raw.{name}"
        )));
    }
    if name.ends_with("__quarantine") {
        return Err(VoidxError::InvalidArgument(format!(
            "'{target}' is a quarantine table; ingest into the table it belongs to"
        )));
    }
    Ok((schema, name))
}

struct IngestJob {
    engine: Arc<EngineSlot>,
    runs: Arc<SystemTable>,
    locks: Arc<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    schema: String,
    name: String,
    query: String,
    options: IngestOptions,
}

/// What a successful load did.
struct Loaded {
    rows_read: usize,
    rows_written: usize,
    rows_quarantined: usize,
    watermark_after: Option<String>,
    delta_version: Option<i64>,
}

impl IngestJob {
    pub(super) fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    async fn run(&self) -> Result<IngestRun> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(locks.entry(self.qualified()).or_default())
        };
        let _guard = lock.lock().await;
        let engine = self.engine.get()?;
        let started_at = now_ms();
        let clock = Instant::now();
        let run_id = new_run_id();
        let watermark_before = match &self.options.watermark {
            Some(column) => self.last_watermark(&engine, column).await?,
            None => None,
        };
        tracing::info!(run_id = %run_id, target = %self.qualified(), "ingest started");
        let outcome = self
            .load(&engine, &run_id, watermark_before.as_deref())
            .await;
        let mut record = IngestRun {
            run_id: run_id.clone(),
            target: self.qualified(),
            source: self.query.clone(),
            mode: self.options.mode.as_str().to_string(),
            status: "success".into(),
            rows_read: 0,
            rows_written: 0,
            rows_quarantined: 0,
            watermark_column: self.options.watermark.clone(),
            watermark_before: watermark_before.clone(),
            watermark_after: watermark_before.clone(),
            delta_version: None,
            started_at,
            duration_ms: 0,
            error: None,
        };
        match &outcome {
            Ok(loaded) => {
                record.rows_read = loaded.rows_read as i64;
                record.rows_written = loaded.rows_written as i64;
                record.rows_quarantined = loaded.rows_quarantined as i64;
                record.watermark_after =
                    loaded.watermark_after.clone().or(watermark_before.clone());
                record.delta_version = loaded.delta_version;
            }
            Err(e) => {
                record.status = "failed".into();
                record.error = Some(e.client_message());
            }
        }
        record.duration_ms = clock.elapsed().as_millis() as i64;
        if let Err(e) = self.runs.append(std::slice::from_ref(&record)).await {
            tracing::warn!(run_id = %run_id, "could not record the ingest run: {e}");
        }
        match outcome {
            Ok(_) => {
                tracing::info!(
                    run_id = %run_id, target = %record.target, rows_written = record.rows_written,
                    rows_quarantined = record.rows_quarantined, "ingest finished"
                );
                Ok(record)
            }
            Err(e) => {
                tracing::warn!(run_id = %run_id, target = %record.target, "ingest failed: {e}");
                Err(with_run_id(e, &run_id))
            }
        }
    }

    async fn load(
        &self,
        engine: &Arc<Engine>,
        run_id: &str,
        watermark_before: Option<&str>,
    ) -> Result<Loaded> {
        let existing = engine.catalog.get(&self.schema, &self.name);
        if let Some(entry) = &existing
            && entry.kind != Kind::Table
        {
            return Err(VoidxError::WrongObjectType(format!(
                "ingest target {} is a {}, not a table. Help: ingest into a table; it is created on the first run",
                entry.qualified(),
                entry.kind.as_str()
            )));
        }
        let target_table = match &existing {
            Some(entry) => Some(
                engine
                    .catalog
                    .delta_table(entry.location.as_deref().unwrap_or_default())
                    .await?,
            ),
            None => None,
        };

        // ---- read
        let ctx = &engine.ctx;
        let read_only = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let mut df = ctx
            .sql_with_options(&self.query, read_only)
            .await
            .map_err(|e| {
                VoidxError::InvalidArgument(format!(
                    "the ingest query does not run: {}. Help: the query must be one SELECT",
                    VoidxError::from(e).client_message()
                ))
            })?;
        if let Some(column) = &self.options.watermark {
            let field = df
                .schema()
                .fields()
                .iter()
                .find(|f| f.name() == column)
                .cloned()
                .ok_or_else(|| {
                    VoidxError::InvalidArgument(format!(
                        "watermark column '{column}' is not a column of the ingest query. Help: the query returns {}",
                        column_list(df.schema().fields())
                    ))
                })?;
            if let Some(mark) = watermark_before {
                let value = ScalarValue::Utf8(Some(mark.to_string()))
                    .cast_to(field.data_type())
                    .map_err(|e| {
                        VoidxError::InvalidArgument(format!(
                            "the stored watermark '{mark}' does not fit column '{column}' ({}): {e}",
                            field.data_type()
                        ))
                    })?;
                df = df.filter(col(quote_ident(column)).gt(lit(value)))?;
            }
        }
        let source_schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        let incoming = concat_batches(&source_schema, &batches)?;
        drop(batches);
        let rows_read = incoming.num_rows();

        // ---- align to the target schema
        let target_schema: Option<SchemaRef> = match &target_table {
            Some(t) => Some(delta_arrow_schema(t)?),
            None => None,
        };
        let mut violations = Violations::new(rows_read);
        let aligned = match &target_schema {
            Some(schema) => self.align(&incoming, schema, &mut violations)?,
            None => {
                let schema = delta::delta_schema(&incoming.schema());
                delta::cast_batch(&incoming, &schema)?
            }
        };

        // ---- quality rules
        for (i, field) in aligned.schema().fields().iter().enumerate() {
            if !field.is_nullable() {
                let column = aligned.column(i);
                for row in 0..aligned.num_rows() {
                    if column.is_null(row) {
                        violations.add(
                            row,
                            &format!("not_null:{}", field.name()),
                            format!("column {} is NULL", field.name()),
                        );
                    }
                }
            }
        }
        if let Some(table) = &target_table {
            check_constraints(table, &aligned, &mut violations).await?;
        }
        let keys = self.options.keys();
        if !keys.is_empty() {
            check_keys(
                &aligned,
                &keys,
                self.options.watermark.as_deref(),
                &mut violations,
            )?;
        }

        // ---- watermark after = max over every row read (quarantined rows were consumed too)
        let watermark_after = match &self.options.watermark {
            Some(column) => max_as_text(&incoming, column)?.or(watermark_before.map(String::from)),
            None => None,
        };

        // ---- split and write
        let bad_mask = violations.mask();
        let good = filter_record_batch(&aligned, &arrow::compute::not(&bad_mask)?)?;
        let bad = filter_record_batch(&aligned, &bad_mask)?;
        let bad_reasons = violations.reasons();
        let metadata = serde_json::json!({
            "run_id": run_id,
            "watermark_column": self.options.watermark,
            "watermark": watermark_after,
        });
        let commit =
            CommitProperties::default().with_metadata([(COMMIT_KEY.to_string(), metadata)]);
        let table = match target_table {
            Some(t) => t,
            None => {
                engine
                    .create_table_with_data(&self.schema, &self.name, good.schema(), Vec::new())
                    .await?;
                let entry = engine
                    .catalog
                    .get(&self.schema, &self.name)
                    .ok_or_else(|| {
                        VoidxError::Internal(format!(
                            "{} vanished after creation",
                            self.qualified()
                        ))
                    })?;
                engine
                    .catalog
                    .delta_table(entry.location.as_deref().unwrap_or_default())
                    .await?
            }
        };
        let written = good.num_rows();
        let table = match self.options.mode {
            Mode::Append | Mode::Overwrite => {
                let mut builder = table.write(vec![good]).with_commit_properties(commit);
                if self.options.mode == Mode::Overwrite {
                    builder = builder.with_save_mode(SaveMode::Overwrite);
                } else {
                    builder = builder.with_save_mode(SaveMode::Append);
                }
                if self.options.schema_mode == SchemaMode::Evolve {
                    builder =
                        builder.with_schema_mode(deltalake::operations::write::SchemaMode::Merge);
                }
                builder.await?
            }
            Mode::Merge => merge(table, good, &keys, commit).await?,
        };
        let delta_version = table.version();

        let quarantined = bad.num_rows();
        if quarantined > 0 {
            self.quarantine(engine, &bad, &bad_reasons, run_id).await?;
        }
        Ok(Loaded {
            rows_read,
            rows_written: written,
            rows_quarantined: quarantined,
            watermark_after,
            delta_version: delta_version.map(|v| v as i64),
        })
    }
}

pub(super) fn column_list(fields: &arrow::datatypes::Fields) -> String {
    fields
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn new_run_id() -> String {
    use rand::Rng;
    let suffix: u32 = rand::rng().random();
    format!("{:x}-{suffix:08x}", now_ms())
}

fn with_run_id(e: VoidxError, run_id: &str) -> VoidxError {
    let message = format!(
        "{} (ingest run {run_id}; see voidx.ingest_runs)",
        e.client_message()
    );
    match e {
        VoidxError::InvalidArgument(_) => VoidxError::InvalidArgument(message),
        VoidxError::WrongObjectType(_) => VoidxError::WrongObjectType(message),
        VoidxError::NotAllowed(_) => VoidxError::NotAllowed(message),
        VoidxError::Unsupported(_) => VoidxError::Unsupported(message),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

    #[test]
    fn targets_and_options() {
        assert_eq!(
            split_target("raw.orders").unwrap(),
            ("raw".into(), "orders".into())
        );
        assert_eq!(
            split_target("Orders").unwrap(),
            ("public".into(), "orders".into())
        );
        assert!(split_target("voidx.models").is_err());
        assert!(split_target("a.b.c").is_err());
        assert!(IngestOptions::parse(r#"{"mode":"merge"}"#).is_err());
        assert!(IngestOptions::parse(r#"{"mode":"upsert"}"#).is_err());
        let o =
            IngestOptions::parse(r#"{"mode":"merge","key":["a","b"],"watermark":"ts"}"#).unwrap();
        assert_eq!(o.keys(), vec!["a", "b"]);
    }
}
