//! The SQL engine: one `SessionContext` over the persistent catalog, and the
//! single entry point every front end uses (pgwire, `voidx sql`, REST).
//!
//! ```no_run
//! # async fn f(engine: &voidx::engine::Engine) -> voidx::error::Result<()> {
//! for stmt in engine.parse("CREATE TABLE t AS SELECT 1 AS x; SELECT * FROM t")? {
//!     let _output = engine.execute(&stmt, None, None).await?;
//! }
//! # Ok(()) }
//! ```

mod ddl;
mod external_definition;
mod guard;
mod parse;
mod retry;
mod timeout;

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, RecordBatch, UInt64Array};
use datafusion::common::ParamValues;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{DmlStatement, LogicalPlan, WriteOp};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::setup_pg_catalog;

pub use guard::panic_message;
pub use parse::Stmt;

use crate::config::Config;
use crate::error::{Result, VoidxError};
use crate::ingest::policy::Policy;
use crate::model::registry::Registry;
use crate::storage::catalog::{Catalog, DEFAULT_SCHEMA};
use crate::storage::provider::{Resolver, VoidxCatalogProvider};
use crate::storage::system::SystemSchema;

/// What a statement produced.
pub enum Output {
    /// A result set, streamed.
    Rows(SendableRecordBatchStream),
    /// A command and its PostgreSQL tag (`CREATE TABLE`, `INSERT 0 3`, …).
    Command(CommandTag),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandTag {
    pub tag: String,
    pub rows: Option<usize>,
}

impl CommandTag {
    pub fn new(tag: &str) -> Self {
        CommandTag {
            tag: tag.to_string(),
            rows: None,
        }
    }

    pub fn with_rows(tag: &str, rows: usize) -> Self {
        CommandTag {
            tag: tag.to_string(),
            rows: Some(rows),
        }
    }
}

pub struct Engine {
    pub ctx: Arc<SessionContext>,
    pub catalog: Arc<Catalog>,
    pub resolver: Arc<Resolver>,
    pub system: Arc<SystemSchema>,
    pub registry: Arc<Registry>,
    /// The source allowlist.
    pub policy: Arc<Policy>,
    /// Jobs, alert rules and the scheduler's state.
    pub monitor: Arc<crate::monitor::Monitor>,
    pub catalog_name: String,
    default_timeout: Option<Duration>,
}

impl Engine {
    /// Open (or create) the data directory and build the session over it.
    pub async fn open(config: &Config) -> Result<Arc<Engine>> {
        let catalog = Catalog::open(&config.data_dir).await?;
        let resolver = Resolver::new(Arc::clone(&catalog));
        let system = SystemSchema::new(Arc::clone(&catalog));

        let mut session_config = SessionConfig::new()
            .with_default_catalog_and_schema(&config.catalog, DEFAULT_SCHEMA)
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(true);
        let options = session_config.options_mut();
        // Delta stores plain Utf8; view types would force a cast on every write.
        options.sql_parser.map_string_types_to_utf8view = false;
        options.execution.parquet.schema_force_view_types = false;
        options.sql_parser.dialect = datafusion::config::Dialect::PostgreSQL;

        let pool_bytes = config.limits.memory_mb.saturating_mul(1024 * 1024);
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(pool_bytes)))
            .build_arc()?;
        let state = SessionStateBuilder::new()
            .with_config(session_config)
            .with_runtime_env(runtime)
            .with_default_features()
            .build();
        let ctx = Arc::new(SessionContext::new_with_state(state));
        ctx.register_catalog(
            &config.catalog,
            Arc::new(VoidxCatalogProvider::new(
                Arc::clone(&resolver),
                Arc::clone(&system),
            )),
        );
        resolver.session.set(&ctx);
        setup_pg_catalog(&ctx, &config.catalog, EmptyContextProvider)
            .map_err(|e| VoidxError::Internal(format!("cannot set up pg_catalog: {e}")))?;
        ctx.register_udf(version_udf());
        crate::failpoint::register(&ctx);
        for (doc, function) in crate::storage::functions::functions(&catalog) {
            ctx.register_udtf(doc.name, function);
        }
        let registry = Registry::open(Arc::clone(&catalog), &system).await?;
        let policy = Arc::new(Policy::new(&config.ingest, &config.data_dir));
        crate::model::register(&ctx, &registry, &resolver, &policy);
        let ingest_slot = crate::ingest::register(&ctx, &catalog, &system, &policy).await?;
        crate::monitor::register(&ctx, &registry, &config.monitor);
        // voidx.predictions exists in every process (not only while serving),
        // so monitoring views over it load with `voidx sql -f`.
        crate::model::prediction_log::PredictionLog::register(&catalog, &system).await?;
        let monitor =
            crate::monitor::Monitor::open(&ctx, &catalog, &system, &config.monitor).await?;
        let engine = Arc::new(Engine {
            ctx,
            catalog,
            resolver,
            system,
            registry,
            policy,
            monitor,
            catalog_name: config.catalog.clone(),
            default_timeout: config.statement_timeout(),
        });
        ingest_slot.set(&engine);
        engine.monitor.attach(&engine);
        Ok(engine)
    }

    pub fn default_timeout(&self) -> Option<Duration> {
        self.default_timeout
    }

    /// Create (or replace) the managed table `schema.name` holding `batches`, in one commit.
    pub async fn create_table_with_data(
        &self,
        schema: &str,
        name: &str,
        arrow_schema: arrow::datatypes::SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<()> {
        ddl::ensure_schema(self, schema).await?;
        ddl::store_table(self, schema, name, arrow_schema, batches, true).await
    }

    /// Split and parse SQL text into statements.
    pub fn parse(&self, sql: &str) -> Result<Vec<Stmt>> {
        parse::parse(sql)
    }

    /// The logical plan of a statement, for describing parameters and
    /// result columns. Catalog statements get an empty plan.
    pub async fn plan(&self, stmt: &Stmt) -> Result<LogicalPlan> {
        guard::catch(|| stmt.to_string(), self.plan_unguarded(stmt)).await
    }

    async fn plan_unguarded(&self, stmt: &Stmt) -> Result<LogicalPlan> {
        if ddl::is_catalog_statement(stmt) {
            return Ok(ddl::empty_plan());
        }
        let plan = self.ctx.state().statement_to_plan(stmt.to_df()).await?;
        Ok(match plan {
            LogicalPlan::Ddl(_) => ddl::empty_plan(),
            other => other,
        })
    }

    /// Run one statement. `timeout` (or the configured default) bounds
    /// queries and writes; catalog changes are short and never cut halfway.
    /// A panic while running it (or while streaming its rows) fails this
    /// statement alone with XX000 ([`guard`]).
    pub async fn execute(
        &self,
        stmt: &Stmt,
        params: Option<&ParamValues>,
        timeout: Option<Duration>,
    ) -> Result<Output> {
        // A write that lost a Delta commit race runs again ([`retry`]).
        let attempts = retry::run(stmt, timeout.or(self.default_timeout), |left| {
            self.execute_unguarded(stmt, params, left)
        });
        guard::run(|| stmt.to_string(), attempts).await
    }

    async fn execute_unguarded(
        &self,
        stmt: &Stmt,
        params: Option<&ParamValues>,
        timeout: Option<Duration>,
    ) -> Result<Output> {
        if let Some(tag) = ddl::execute_catalog_statement(self, stmt).await? {
            return Ok(Output::Command(tag));
        }
        let timeout = timeout.or(self.default_timeout);
        let deadline = timeout.map(|t| (tokio::time::Instant::now() + t, t));
        let mut plan =
            timeout::run(deadline, self.ctx.state().statement_to_plan(stmt.to_df())).await??;
        if let Some(params) = params {
            plan = plan.replace_params_with_values(params)?;
        }
        external_definition::restore(&mut plan, stmt);
        match plan {
            LogicalPlan::Ddl(ddl) => Ok(Output::Command(
                ddl::execute_ddl(self, ddl, deadline).await?,
            )),
            LogicalPlan::Dml(dml) => {
                let tag = dml_tag(&dml);
                let batches = timeout::run(
                    deadline,
                    self.ctx.execute_logical_plan(LogicalPlan::Dml(dml)),
                )
                .await??;
                let batches = timeout::run(deadline, batches.collect()).await??;
                Ok(Output::Command(CommandTag::with_rows(
                    tag,
                    count_rows(&batches),
                )))
            }
            plan => {
                let df = timeout::run(deadline, self.ctx.execute_logical_plan(plan)).await??;
                let stream = timeout::run(deadline, df.execute_stream()).await??;
                Ok(Output::Rows(timeout::wrap(stream, deadline)))
            }
        }
    }

    /// Run every statement of `sql`, collecting results; for `voidx sql`,
    /// tests and scripts.
    pub async fn execute_sql(
        &self,
        sql: &str,
    ) -> Result<
        Vec<(
            Option<arrow::datatypes::SchemaRef>,
            Vec<RecordBatch>,
            CommandTag,
        )>,
    > {
        let mut results = Vec::new();
        for stmt in self.parse(sql)? {
            match self.execute(&stmt, None, None).await? {
                Output::Rows(stream) => {
                    let schema = stream.schema();
                    let batches: Vec<RecordBatch> =
                        futures::TryStreamExt::try_collect(stream).await?;
                    let rows = batches.iter().map(|b| b.num_rows()).sum();
                    results.push((Some(schema), batches, CommandTag::with_rows("SELECT", rows)));
                }
                Output::Command(tag) => results.push((None, vec![], tag)),
            }
        }
        Ok(results)
    }
}

fn dml_tag(dml: &DmlStatement) -> &'static str {
    match dml.op {
        WriteOp::Insert(_) => "INSERT",
        WriteOp::Delete => "DELETE",
        WriteOp::Update => "UPDATE",
        WriteOp::Ctas => "SELECT",
        WriteOp::Truncate => "TRUNCATE TABLE",
        _ => "MERGE",
    }
}

/// DML plans return one row with a `count` column.
fn count_rows(batches: &[RecordBatch]) -> usize {
    batches
        .iter()
        .filter_map(|b| b.column_by_name("count"))
        .filter_map(|c| {
            c.as_any()
                .downcast_ref::<UInt64Array>()
                .map(|a| (0..a.len()).map(|i| a.value(i)).sum::<u64>())
        })
        .sum::<u64>() as usize
}

/// `version()` in PostgreSQL's shape: drivers (SQLAlchemy, JDBC) parse
/// "PostgreSQL X.Y" out of it to pick their dialect.
fn version_udf() -> datafusion::logical_expr::ScalarUDF {
    let text = format!(
        "PostgreSQL 16.6 (VOIDX {}, Apache DataFusion {})",
        env!("CARGO_PKG_VERSION"),
        datafusion::DATAFUSION_VERSION
    );
    datafusion::logical_expr::create_udf(
        "version",
        vec![],
        arrow::datatypes::DataType::Utf8,
        datafusion::logical_expr::Volatility::Stable,
        Arc::new(move |_args: &[datafusion::logical_expr::ColumnarValue]| {
            Ok(datafusion::logical_expr::ColumnarValue::Scalar(
                datafusion::common::ScalarValue::Utf8(Some(text.clone())),
            ))
        }),
    )
}
