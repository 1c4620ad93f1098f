//! `ingest(target, query [, options_json])`: loads the rows of a source
//! query into a managed Delta table, validated, exactly once.
//!
//! A run, step by step (one module each):
//! 1. [`state`] — the target's ingest state is read from its own Delta
//!    snapshot in O(1): the last data commit's sequence number (a Delta
//!    application transaction) and the watermark stored with it (a table
//!    property). A previous run that stopped before its data commit is
//!    resolved first: its quarantine rows are deleted and it is recorded as
//!    `interrupted`.
//! 2. The query runs in the calling session (its settings apply) with
//!    `WHERE <watermark> > <mark>` added through the DataFrame API, so
//!    DataFusion pushes it into the source ([`watermark`]).
//! 3. [`align`] casts the rows to the target schema (`schema_mode`);
//!    [`quality`] finds the rows that break a rule.
//! 4. [`write`] commits, in this order: the pending state (new watermark,
//!    run id), the quarantine rows (tagged with the run id), and last the
//!    data commit, which carries the sequence number that makes the pending
//!    state current. Everything before the data commit is undone or ignored
//!    by the next run if the data commit never happens.
//! 5. The run is a row of `voidx.ingest_runs` ([`runs`]).
//!
//! docs/durability.md says what holds after a crash at each boundary.

mod align;
pub(crate) mod options;
mod quality;
mod recover;
mod runs;
mod state;
mod watermark;
mod write;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result as DfResult;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use futures::FutureExt;
use voidx_udfs::{Documented, SqlDoc};

use crate::error::{Result, VoidxError};
use crate::failpoint;
use crate::policy::Policy;
use crate::storage::catalog::{Catalog, DEFAULT_SCHEMA, Kind, now_ms};
use crate::storage::delta;
use crate::storage::functions::literal_str;
use crate::storage::lazy::LazyTable;
use crate::storage::provider::Resolver;
use crate::storage::relations;
use crate::storage::relations::RESERVED_SCHEMAS;
use crate::storage::system::SystemSchema;
use crate::storage::system_table::{SystemTable, to_batch};
use options::{IngestOptions, SchemaMode};
use quality::Violations;
use runs::{IngestRun, runs_schema};
use state::{Mark, TargetState};

/// What the function needs from below: the catalog to find and create
/// tables, the resolver to forget what a replaced table held, and the run log.
#[derive(Debug)]
struct Shared {
    catalog: Arc<Catalog>,
    resolver: Arc<Resolver>,
    runs: SystemTable,
    /// One ingest at a time per target, so watermarks never race.
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    _policy: Arc<Policy>,
}

#[derive(Debug)]
pub struct IngestFunction {
    shared: Arc<Shared>,
}

impl Documented for IngestFunction {
    const DOC: SqlDoc = SqlDoc {
        name: "ingest",
        kind: "table",
        syntax: "ingest(target, query [, options_json])",
        description: "Loads the rows of `query` (any SELECT, typically over an external table) into the managed Delta table `target` (`schema.table`; created from the source's columns on the first run). Rows are checked against the quality rules — values that do not fit the target column's type, NOT NULL columns, the target's CHECK constraints (`ALTER TABLE … ADD CONSTRAINT … CHECK (…)`) and key uniqueness within the batch — and rows that fail go to `<target>__quarantine` with `_rule`, `_reason` and `_run_id`; the rest commit in one Delta commit, the run's last. With `watermark`, the run reads only rows whose watermark column is greater than the high-water mark of the last successful run (the predicate is pushed down to the source) and stores the new mark atomically with that commit. A run that fails or stops half-way commits nothing visible, leaves the watermark unchanged, and the next run cleans up after it. Every run is recorded in voidx.ingest_runs. Options: `mode` (append | merge | overwrite; default append), `key` (column or list; required for merge, where matched rows are updated and new rows inserted; duplicate keys in a batch keep the row with the highest watermark, else the last one read), `watermark` (column), `schema_mode` (strict: new source columns fail the run; evolve: they are added to the target; ignore: they are dropped. Target columns missing from the source are NULL, or fail the run when NOT NULL).",
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
        catalog: &Arc<Catalog>,
        resolver: &Arc<Resolver>,
        system: &SystemSchema,
        policy: &Arc<Policy>,
    ) -> Result<IngestFunction> {
        let runs = SystemTable::open(catalog, system, "ingest_runs", runs_schema())
            .await?
            .append_only();
        Ok(IngestFunction {
            shared: Arc::new(Shared {
                catalog: Arc::clone(catalog),
                resolver: Arc::clone(resolver),
                runs,
                locks: Default::default(),
                _policy: Arc::clone(policy),
            }),
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
        Ok(Arc::new(IngestTable {
            job: Arc::new(IngestJob {
                shared: Arc::clone(&self.shared),
                schema,
                name,
                query,
                options,
            }),
        }))
    }
}

/// The relation `ingest(...)` returns: one row, the run record. The run
/// happens when the plan executes, in the session that executes it, so
/// `EXPLAIN` does no work and the caller's settings apply to the source query.
#[derive(Debug)]
struct IngestTable {
    job: Arc<IngestJob>,
}

#[async_trait]
impl TableProvider for IngestTable {
    fn schema(&self) -> SchemaRef {
        runs_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let session = state
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| {
                VoidxError::Internal("ingest needs a DataFusion session state".into())
            })?;
        let ctx = SessionContext::new_with_state(session.clone());
        let job = Arc::clone(&self.job);
        let lazy = LazyTable::try_new(
            runs_schema(),
            Arc::new(move || {
                let job = Arc::clone(&job);
                let ctx = ctx.clone();
                async move {
                    let run = job.run(&ctx).await?;
                    Ok(vec![to_batch(&runs_schema(), &[run])?])
                }
                .boxed()
            }),
        )?;
        lazy.scan(state, projection, filters, limit).await
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
    if RESERVED_SCHEMAS.contains(&schema.as_str()) {
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

#[derive(Debug)]
struct IngestJob {
    shared: Arc<Shared>,
    schema: String,
    name: String,
    query: String,
    options: IngestOptions,
}

/// What a run read and decided before it commits.
struct Prepared {
    target: Option<DeltaTable>,
    state: TargetState,
    watermark_before: Option<String>,
}

impl IngestJob {
    pub(super) fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    fn quarantine_name(&self) -> String {
        format!("{}__quarantine", self.name)
    }

    async fn run(&self, ctx: &SessionContext) -> Result<IngestRun> {
        let lock = {
            let mut locks = self.shared.locks.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(locks.entry(self.qualified()).or_default())
        };
        let _guard = lock.lock().await;
        let started_at = now_ms();
        let clock = Instant::now();
        let run_id = new_run_id();
        tracing::info!(run_id = %run_id, target = %self.qualified(), "ingest started");
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
            watermark_before: None,
            watermark_after: None,
            delta_version: None,
            started_at,
            duration_ms: 0,
            error: None,
        };
        let mut seq = None;
        let outcome = async {
            let prepared = self.prepare().await?;
            record.watermark_before = prepared.watermark_before.clone();
            record.watermark_after = prepared.watermark_before.clone();
            seq = Some(prepared.state.seq + 1);
            self.load(ctx, &run_id, started_at, prepared).await
        }
        .await;
        let outcome = match (outcome, seq) {
            // The data commit may be durable although the call reported an
            // error (a failed checkpoint after the commit): the sequence
            // number in the snapshot decides, never the error.
            (Err(e), Some(seq)) => match self.committed_mark(seq).await {
                Some(mark) => {
                    tracing::warn!(run_id = %run_id, "ingest committed, then failed: {e}");
                    Ok(mark)
                }
                None => Err(e),
            },
            (outcome, _) => outcome,
        };
        match &outcome {
            Ok(mark) => {
                record.rows_read = mark.rows_read;
                record.rows_written = mark.rows_written;
                record.rows_quarantined = mark.rows_quarantined;
                if mark.watermark.is_some() {
                    record.watermark_after = mark.watermark.clone();
                }
                record.delta_version = mark.delta_version;
            }
            Err(e) => {
                record.status = "failed".into();
                record.error = Some(e.client_message());
            }
        }
        record.duration_ms = clock.elapsed().as_millis() as i64;
        failpoint::hit("ingest.before_run_record")?;
        if let Err(e) = self.shared.runs.append(std::slice::from_ref(&record)).await {
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
                // What this run committed before it failed is undone now
                // rather than by the next run.
                if let Err(undo) = self.resolve_unfinished().await {
                    tracing::warn!(run_id = %run_id, "could not clean up after the run: {undo}");
                }
                tracing::warn!(run_id = %run_id, target = %record.target, "ingest failed: {e}");
                Err(with_run_id(e, &run_id))
            }
        }
    }

    /// The target (if it exists), its ingest state with any unfinished run
    /// resolved, and the watermark this run starts from.
    async fn prepare(&self) -> Result<Prepared> {
        let target = self.open_target().await?;
        let state = match &target {
            Some(table) => state::read(table).await?,
            None => TargetState::default(),
        };
        self.resolve(&state).await?;
        let watermark_before = match (&self.options.watermark, &target) {
            (Some(column), Some(table)) => match &state.current {
                Some(mark) if mark.watermark_column.as_deref() == Some(column.as_str()) => {
                    mark.watermark.clone()
                }
                Some(_) => None,
                // A table loaded before the state existed keeps its mark
                // in the commit metadata.
                None => watermark::legacy(table, column).await?,
            },
            _ => None,
        };
        Ok(Prepared {
            target,
            state,
            watermark_before,
        })
    }

    /// The target's Delta table, or `None` before the first run.
    async fn open_target(&self) -> Result<Option<DeltaTable>> {
        let Some(entry) = self.shared.catalog.get(&self.schema, &self.name) else {
            return Ok(None);
        };
        if entry.kind != Kind::Table {
            return Err(VoidxError::WrongObjectType(format!(
                "ingest target {} is a {}, not a table. Help: ingest into a table; it is created on the first run",
                entry.qualified(),
                entry.kind.as_str()
            )));
        }
        let location = entry.location.unwrap_or_default();
        Ok(Some(self.shared.catalog.delta_table(&location).await?))
    }

    /// Creates the table `schema.name` (empty) and opens it.
    async fn create_table(&self, name: &str, schema: SchemaRef) -> Result<DeltaTable> {
        let catalog = &self.shared.catalog;
        relations::ensure_schema(catalog, &self.schema).await?;
        relations::store_table(
            catalog,
            &self.shared.resolver,
            &self.schema,
            name,
            schema,
            Vec::new(),
            false,
        )
        .await?;
        let location = catalog
            .get(&self.schema, name)
            .and_then(|e| e.location)
            .ok_or_else(|| {
                VoidxError::Internal(format!("{}.{name} vanished after creation", self.schema))
            })?;
        catalog.delta_table(&location).await
    }

    async fn load(
        &self,
        ctx: &SessionContext,
        run_id: &str,
        started_at: i64,
        prepared: Prepared,
    ) -> Result<Mark> {
        let Prepared {
            target,
            state,
            watermark_before,
        } = prepared;

        // ---- read, in the caller's session
        let read_only = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let df = ctx
            .sql_with_options(&self.query, read_only)
            .await
            .map_err(|e| {
                VoidxError::InvalidArgument(format!(
                    "the ingest query does not run: {}. Help: the query must be one SELECT",
                    VoidxError::from(e).client_message()
                ))
            })?;
        let df = watermark::filter(
            df,
            self.options.watermark.as_deref(),
            watermark_before.as_deref(),
        )?;
        let source_schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let progress = crate::progress::current();
        let batches = read_noting(df, &progress).await?;
        let incoming = concat_batches(&source_schema, &batches)?;
        drop(batches);
        let rows_read = incoming.num_rows();
        progress.note(
            format!(
                "read {} rows for {}",
                crate::progress::count(rows_read as u64),
                self.qualified()
            ),
            None,
        );

        // ---- align to the target schema
        let mut violations = Violations::new(rows_read);
        let aligned = match &target {
            Some(table) => align::align(
                &incoming,
                &align::delta_arrow_schema(table)?,
                self.options.schema_mode,
                &self.qualified(),
                &mut violations,
            )?,
            None => {
                let schema = delta::delta_schema(&incoming.schema());
                align::Aligned::exact(delta::cast_batch(&incoming, &schema)?)
            }
        };

        // ---- quality rules
        quality::check_not_null(
            &aligned.rows,
            &aligned.schema,
            &self.qualified(),
            &mut violations,
        );
        if let Some(table) = &target {
            quality::check_constraints(table, &aligned.rows, &mut violations).await?;
        }
        let keys = self.options.keys();
        if !keys.is_empty() {
            quality::check_keys(
                &aligned.rows,
                &keys,
                self.options.watermark.as_deref(),
                &mut violations,
            )?;
        }

        // ---- watermark after = max over every row read (quarantined rows were consumed too)
        let watermark_after = match &self.options.watermark {
            Some(column) => watermark::max_as_text(&incoming, column)?.or(watermark_before.clone()),
            None => None,
        };

        // ---- split
        let bad_mask = violations.mask();
        let good = aligned.passing(&arrow::compute::not(&bad_mask)?)?;
        let bad = aligned.failing(&bad_mask)?;
        let bad_reasons = violations.reasons();
        let mut mark = Mark {
            seq: state.seq + 1,
            run_id: run_id.to_string(),
            watermark_column: self.options.watermark.clone(),
            watermark: watermark_after,
            rows_read: rows_read as i64,
            rows_written: good.num_rows() as i64,
            rows_quarantined: bad.num_rows() as i64,
            started_at,
            source: self.query.clone(),
            mode: self.options.mode.as_str().to_string(),
            delta_version: None,
        };

        progress.note(
            format!(
                "checked {} rows: {} pass, {} to {}.{}",
                crate::progress::count(rows_read as u64),
                crate::progress::count(good.num_rows() as u64),
                crate::progress::count(bad.num_rows() as u64),
                self.schema,
                self.quarantine_name()
            ),
            None,
        );

        // ---- commits: state, quarantine, data (the commit point)
        let table = match target {
            Some(t) => t,
            None => {
                failpoint::hit("ingest.before_create_target")?;
                self.create_table(&self.name, good.schema()).await?
            }
        };
        failpoint::hit("ingest.before_state_commit")?;
        let table = state::commit_pending(table, &state, &mark).await?;
        if bad.num_rows() > 0 {
            failpoint::hit("ingest.before_quarantine_commit")?;
            self.quarantine(&bad, &bad_reasons, run_id).await?;
        }
        failpoint::hit("ingest.before_data_commit")?;
        let table = write::data(
            table,
            good,
            self.options.mode,
            self.options.schema_mode == SchemaMode::Evolve,
            &keys,
            &mark,
        )
        .await?;
        mark.delta_version = table.version().map(|v| v as i64);
        self.shared
            .catalog
            .compact_after_write(&self.schema, &self.name)
            .await;
        progress.note(
            format!(
                "committed {} rows to {} (version {})",
                crate::progress::count(mark.rows_written as u64),
                self.qualified(),
                mark.delta_version.unwrap_or(-1)
            ),
            None,
        );
        Ok(mark)
    }
}

/// The source's rows, noting how many have arrived at most once a second
/// (a paginated REST source or a big Postgres table takes a while).
async fn read_noting(
    df: datafusion::dataframe::DataFrame,
    progress: &crate::progress::Progress,
) -> Result<Vec<arrow::array::RecordBatch>> {
    use futures::StreamExt;
    let mut stream = df.execute_stream().await?;
    let mut batches = Vec::new();
    let (mut rows, mut noted) = (0usize, std::time::Instant::now());
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows();
        if noted.elapsed() >= std::time::Duration::from_secs(1) {
            progress.note(
                format!(
                    "reading the source: {} rows so far",
                    crate::progress::count(rows as u64)
                ),
                None,
            );
            noted = std::time::Instant::now();
        }
        batches.push(batch);
    }
    Ok(batches)
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
        VoidxError::LimitExceeded(_) => VoidxError::LimitExceeded(message),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
