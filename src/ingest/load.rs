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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
enum Mode {
    #[default]
    Append,
    Merge,
    Overwrite,
}

impl Mode {
    fn as_str(&self) -> &'static str {
        match self {
            Mode::Append => "append",
            Mode::Merge => "merge",
            Mode::Overwrite => "overwrite",
        }
    }
}

/// What happens when the source's columns differ from the target's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
enum SchemaMode {
    /// New source columns fail the batch.
    #[default]
    Strict,
    /// New source columns are added to the target (nullable).
    Evolve,
    /// New source columns are dropped.
    Ignore,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Keys {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct IngestOptions {
    mode: Mode,
    key: Option<Keys>,
    watermark: Option<String>,
    schema_mode: SchemaMode,
}

impl IngestOptions {
    fn parse(text: &str) -> Result<IngestOptions> {
        let options: IngestOptions = serde_json::from_str(text).map_err(|e| {
            VoidxError::InvalidArgument(format!(
                "ingest options are not valid: {e}. Help: a JSON object such as \
                 {{\"mode\": \"merge\", \"key\": \"order_id\", \"watermark\": \"updated_at\", \
                 \"schema_mode\": \"strict\"}}; mode is append | merge | overwrite, \
                 schema_mode is strict | evolve | ignore"
            ))
        })?;
        if options.mode == Mode::Merge && options.keys().is_empty() {
            return Err(VoidxError::InvalidArgument(
                "ingest mode 'merge' needs a key. Help: add \"key\": \"id\" (or a list of columns)"
                    .into(),
            ));
        }
        if options.mode == Mode::Merge && options.schema_mode == SchemaMode::Evolve {
            return Err(VoidxError::Unsupported(
                "schema_mode 'evolve' is not supported with mode 'merge'. Help: run one \
                 append with schema_mode 'evolve' first, or add the column with a new table"
                    .into(),
            ));
        }
        Ok(options)
    }

    fn keys(&self) -> Vec<String> {
        match &self.key {
            None => Vec::new(),
            Some(Keys::One(k)) => vec![k.clone()],
            Some(Keys::Many(v)) => v.clone(),
        }
    }
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
    fn qualified(&self) -> String {
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

    /// The watermark of the newest ingest commit of the target for `column`.
    async fn last_watermark(&self, engine: &Engine, column: &str) -> Result<Option<String>> {
        let Some(entry) = engine.catalog.get(&self.schema, &self.name) else {
            return Ok(None);
        };
        let Some(location) = entry.location.as_deref() else {
            return Ok(None);
        };
        let table = engine.catalog.delta_table(location).await?;
        let mut history = table.history(Some(HISTORY_LIMIT));
        while let Some(info) = history.next().await {
            let info = info?;
            if info.operation.as_deref() == Some("CREATE TABLE") {
                continue;
            }
            if let Some(meta) = info.info.get(COMMIT_KEY)
                && meta.get("watermark_column").and_then(|v| v.as_str()) == Some(column)
            {
                return Ok(meta
                    .get("watermark")
                    .and_then(|v| v.as_str())
                    .map(str::to_string));
            }
            // An overwrite by someone else resets what was loaded.
            if info.operation.as_deref() == Some("WRITE")
                && info
                    .operation_parameters
                    .as_ref()
                    .and_then(|p| p.get("mode"))
                    .and_then(|m| m.as_str())
                    == Some("Overwrite")
                && !info.info.contains_key(COMMIT_KEY)
            {
                return Ok(None);
            }
        }
        Ok(None)
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

    /// Incoming columns → the target's columns and types.
    fn align(
        &self,
        incoming: &RecordBatch,
        target: &SchemaRef,
        violations: &mut Violations,
    ) -> Result<RecordBatch> {
        let incoming_schema = incoming.schema();
        let find = |name: &str| {
            incoming_schema.index_of(name).ok().or_else(|| {
                incoming_schema
                    .fields()
                    .iter()
                    .position(|f| f.name().eq_ignore_ascii_case(name))
            })
        };
        let mut fields = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        let mut used = vec![false; incoming_schema.fields().len()];
        let mut missing_required = Vec::new();
        for field in target.fields() {
            match find(field.name()) {
                Some(i) => {
                    used[i] = true;
                    let source = incoming.column(i);
                    let cast = cast_column(source, field.data_type()).map_err(|e| {
                        VoidxError::InvalidArgument(format!(
                            "column {} is {} in the source but {} in {}; the types are not compatible ({e}). Help: cast it in the ingest query",
                            field.name(),
                            source.data_type(),
                            field.data_type(),
                            self.qualified()
                        ))
                    })?;
                    // Values that became NULL did not fit the target type.
                    if cast.null_count() > source.null_count() {
                        let formatter =
                            ArrayFormatter::try_new(source.as_ref(), &FormatOptions::default())?;
                        for row in 0..cast.len() {
                            if cast.is_null(row) && !source.is_null(row) {
                                violations.add(
                                    row,
                                    &format!("type:{}", field.name()),
                                    format!(
                                        "'{}' is not a valid {} for column {}",
                                        formatter.value(row),
                                        field.data_type(),
                                        field.name()
                                    ),
                                );
                            }
                        }
                    }
                    columns.push(cast);
                    fields.push(field.as_ref().clone());
                }
                None if field.is_nullable() => {
                    columns.push(new_null_array(field.data_type(), incoming.num_rows()));
                    fields.push(field.as_ref().clone());
                }
                None => missing_required.push(field.name().clone()),
            }
        }
        if !missing_required.is_empty() {
            return Err(VoidxError::InvalidArgument(format!(
                "the source has no column {} but it is NOT NULL in {}. Help: select it in the ingest query",
                missing_required.join(", "),
                self.qualified()
            )));
        }
        let new: Vec<usize> = (0..used.len()).filter(|i| !used[*i]).collect();
        if !new.is_empty() {
            let names: Vec<String> = new
                .iter()
                .map(|i| incoming_schema.field(*i).name().clone())
                .collect();
            match self.options.schema_mode {
                SchemaMode::Strict => {
                    return Err(VoidxError::InvalidArgument(format!(
                        "the source has new columns {} that {} does not have. Help: set \"schema_mode\": \"evolve\" to add them, or \"ignore\" to drop them",
                        names.join(", "),
                        self.qualified()
                    )));
                }
                SchemaMode::Ignore => {}
                SchemaMode::Evolve => {
                    let extra = delta::delta_schema(&Schema::new(
                        new.iter()
                            .map(|i| incoming_schema.field(*i).clone().with_nullable(true))
                            .collect::<Vec<_>>(),
                    ));
                    for (k, i) in new.iter().enumerate() {
                        let field = extra.field(k).clone();
                        columns.push(cast_column(incoming.column(*i), field.data_type())?);
                        fields.push(field);
                    }
                }
            }
        }
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?)
    }

    async fn quarantine(
        &self,
        engine: &Arc<Engine>,
        bad: &RecordBatch,
        reasons: &[(String, String)],
        run_id: &str,
    ) -> Result<()> {
        let name = format!("{}__quarantine", self.name);
        let mut fields: Vec<Field> = bad
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        fields.push(Field::new("_rule", DataType::Utf8, false));
        fields.push(Field::new("_reason", DataType::Utf8, false));
        fields.push(Field::new("_run_id", DataType::Utf8, false));
        fields.push(Field::new(
            "_quarantined_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ));
        let schema = Arc::new(Schema::new(fields));
        let n = bad.num_rows();
        let mut columns: Vec<ArrayRef> = bad.columns().to_vec();
        columns.push(Arc::new(StringArray::from_iter_values(
            reasons.iter().map(|r| r.0.as_str()),
        )));
        columns.push(Arc::new(StringArray::from_iter_values(
            reasons.iter().map(|r| r.1.as_str()),
        )));
        columns.push(Arc::new(StringArray::from_iter_values(
            std::iter::repeat_n(run_id, n),
        )));
        let now = now_ms() * 1000;
        columns.push(Arc::new(
            arrow::array::TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC"),
        ));
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
        let location = match engine.catalog.get(&self.schema, &name) {
            Some(entry) => entry.location.unwrap_or_default(),
            None => {
                engine
                    .create_table_with_data(&self.schema, &name, Arc::clone(&schema), Vec::new())
                    .await?;
                engine
                    .catalog
                    .get(&self.schema, &name)
                    .and_then(|e| e.location)
                    .unwrap_or_default()
            }
        };
        let table = engine.catalog.delta_table(&location).await?;
        table
            .write(vec![batch])
            .with_save_mode(SaveMode::Append)
            .with_schema_mode(deltalake::operations::write::SchemaMode::Merge)
            .await?;
        Ok(())
    }
}

/// Merge `good` into `table` on `keys`: matched rows updated, new rows inserted.
async fn merge(
    table: DeltaTable,
    good: RecordBatch,
    keys: &[String],
    commit: CommitProperties,
) -> Result<DeltaTable> {
    let columns: Vec<String> = good
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let predicate = keys
        .iter()
        .map(|k| format!("target.{0} = source.{0}", quote_ident(k)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let ctx = SessionContext::new();
    let source = ctx.read_batch(good)?;
    let (table, _metrics) = table
        .merge(source, predicate)
        .with_source_alias("source")
        .with_target_alias("target")
        .with_commit_properties(commit)
        .when_matched_update(|mut update| {
            for c in &columns {
                update = update.update(quote_ident(c), format!("source.{}", quote_ident(c)));
            }
            update
        })?
        .when_not_matched_insert(|mut insert| {
            for c in &columns {
                insert = insert.set(quote_ident(c), format!("source.{}", quote_ident(c)));
            }
            insert
        })?
        .await?;
    Ok(table)
}

/// The first broken rule of each row.
struct Violations {
    rule: Vec<Option<(String, String)>>,
}

impl Violations {
    fn new(rows: usize) -> Self {
        Violations {
            rule: vec![None; rows],
        }
    }

    fn add(&mut self, row: usize, rule: &str, reason: String) {
        if let Some(slot) = self.rule.get_mut(row)
            && slot.is_none()
        {
            *slot = Some((rule.to_string(), reason));
        }
    }

    fn mask(&self) -> BooleanArray {
        let mut b = BooleanBuilder::with_capacity(self.rule.len());
        for r in &self.rule {
            b.append_value(r.is_some());
        }
        b.finish()
    }

    fn reasons(&self) -> Vec<(String, String)> {
        self.rule.iter().flatten().cloned().collect()
    }
}

/// The target's Delta CHECK constraints, evaluated on the batch the way the
/// Delta writer does: a row breaks a constraint when it evaluates to false.
async fn check_constraints(
    table: &DeltaTable,
    batch: &RecordBatch,
    violations: &mut Violations,
) -> Result<()> {
    let snapshot = table.snapshot()?;
    let mut constraints: Vec<(String, String)> = snapshot
        .metadata()
        .configuration()
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("delta.constraints.")
                .map(|n| (n.to_string(), v.clone()))
        })
        .collect();
    if constraints.is_empty() || batch.num_rows() == 0 {
        return Ok(());
    }
    constraints.sort();
    let ctx = SessionContext::new();
    let df_schema = DFSchema::try_from(batch.schema().as_ref().clone())?;
    for (name, sql) in constraints {
        let expr = ctx.parse_sql_expr(&sql, &df_schema)?;
        let physical = ctx.create_physical_expr(expr, &df_schema)?;
        let value = physical.evaluate(batch)?.into_array(batch.num_rows())?;
        let Some(ok) = value.as_any().downcast_ref::<BooleanArray>() else {
            return Err(VoidxError::Internal(format!(
                "constraint {name} ({sql}) is not a boolean expression"
            )));
        };
        for row in 0..ok.len() {
            if ok.is_valid(row) && !ok.value(row) {
                violations.add(
                    row,
                    &format!("check:{name}"),
                    format!("CHECK ({sql}) is false"),
                );
            }
        }
    }
    Ok(())
}

/// Key uniqueness within the batch: NULL keys break the rule; of duplicated
/// keys the row with the highest watermark (else the last row read) is kept.
fn check_keys(
    batch: &RecordBatch,
    keys: &[String],
    watermark: Option<&str>,
    violations: &mut Violations,
) -> Result<()> {
    let schema = batch.schema();
    let mut key_columns = Vec::new();
    for k in keys {
        let i = schema.index_of(k).map_err(|_| {
            VoidxError::InvalidArgument(format!(
                "key column '{k}' is not a column of the data. Help: the columns are {}",
                column_list(schema.fields())
            ))
        })?;
        key_columns.push(Arc::clone(batch.column(i)));
    }
    let converter = RowConverter::new(
        key_columns
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )?;
    let rows = converter.convert_columns(&key_columns)?;
    let order: Option<ArrayRef> = match watermark {
        Some(w) => schema.index_of(w).ok().map(|i| Arc::clone(batch.column(i))),
        None => None,
    };
    let order_rows = match &order {
        Some(c) => Some(
            RowConverter::new(vec![SortField::new(c.data_type().clone())])?
                .convert_columns(std::slice::from_ref(c))?,
        ),
        None => None,
    };
    let mut kept: HashMap<arrow::row::Row<'_>, usize> = HashMap::new();
    for row in 0..batch.num_rows() {
        if key_columns.iter().any(|c| c.is_null(row)) {
            violations.add(
                row,
                "key_not_null",
                format!("key {} is NULL", keys.join(", ")),
            );
            continue;
        }
        let key = rows.row(row);
        match kept.get(&key).copied() {
            None => {
                kept.insert(key, row);
            }
            Some(previous) => {
                let newer = match &order_rows {
                    Some(o) => o.row(row) >= o.row(previous),
                    None => true,
                };
                let (keep, drop) = if newer {
                    (row, previous)
                } else {
                    (previous, row)
                };
                kept.insert(key, keep);
                violations.add(
                    drop,
                    "unique_key",
                    format!(
                        "duplicate key ({}) in the batch; row {} was kept",
                        keys.join(", "),
                        keep + 1
                    ),
                );
            }
        }
    }
    Ok(())
}

/// Cast with NULL for values that do not fit (they are reported as type violations).
fn cast_column(array: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    if array.data_type() == to {
        return Ok(Arc::clone(array));
    }
    let options = arrow::compute::CastOptions {
        safe: true,
        ..Default::default()
    };
    Ok(cast_with_options(array, to, &options)?)
}

/// The largest value of `column`, as text that casts back to its type.
fn max_as_text(batch: &RecordBatch, column: &str) -> Result<Option<String>> {
    let Ok(i) = batch.schema().index_of(column) else {
        return Ok(None);
    };
    let array = batch.column(i);
    if array.len() == array.null_count() {
        return Ok(None);
    }
    let mut best: Option<ScalarValue> = None;
    for row in 0..array.len() {
        if array.is_null(row) {
            continue;
        }
        let v = ScalarValue::try_from_array(array, row)?;
        if best
            .as_ref()
            .is_none_or(|b| v.partial_cmp(b) == Some(std::cmp::Ordering::Greater))
        {
            best = Some(v);
        }
    }
    Ok(match best {
        Some(v) => {
            let text = v.cast_to(&DataType::Utf8)?;
            match text {
                ScalarValue::Utf8(s) => s,
                other => Some(other.to_string()),
            }
        }
        None => None,
    })
}

/// The Arrow schema of a Delta table as it is read back.
fn delta_arrow_schema(table: &DeltaTable) -> Result<SchemaRef> {
    let snapshot = table.snapshot()?;
    Ok(snapshot.snapshot().arrow_schema())
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn column_list(fields: &arrow::datatypes::Fields) -> String {
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

    #[test]
    fn duplicate_keys_keep_the_newest() {
        let batch = RecordBatch::try_from_iter(vec![
            (
                "id",
                Arc::new(Int64Array::from(vec![Some(1), Some(2), Some(1), None])) as ArrayRef,
            ),
            (
                "ts",
                Arc::new(Int64Array::from(vec![5, 1, 3, 9])) as ArrayRef,
            ),
        ])
        .unwrap();
        let mut v = Violations::new(4);
        check_keys(&batch, &["id".into()], Some("ts"), &mut v).unwrap();
        let rules: Vec<Option<String>> = v.rule.iter().map(|r| r.clone().map(|r| r.0)).collect();
        assert_eq!(
            rules,
            vec![
                None,
                None,
                Some("unique_key".into()),
                Some("key_not_null".into())
            ]
        );
        assert_eq!(max_as_text(&batch, "ts").unwrap().as_deref(), Some("9"));
    }
}
