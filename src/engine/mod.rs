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

pub mod bind;
mod client_queries;
pub mod column_names;
mod ddl;
mod guard;
mod parse;
pub mod pg_attribute;
mod pg_builtins;
mod pg_comments;
mod pg_functions;
mod pg_relations;
mod prepared;
pub mod psql_queries;
mod retry;
mod rewrite;
mod roles;
mod session;
mod targets;
mod temp;
mod timeout;
mod writers;

pub use temp::TempTables;

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, RecordBatch, UInt64Array};
use datafusion::common::ParamValues;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::{FunctionRegistry, SendableRecordBatchStream};
use datafusion::logical_expr::{DmlStatement, LogicalPlan, Statement, WriteOp};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::sqlparser::ast::{Reset, Set, Statement as PgStatement};
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::setup_pg_catalog;

pub use guard::panic_message;
pub use parse::Stmt;
pub use roles::check as check_role;
pub use session::{Role, Session, answered_per_connection};

use voidx_udfs::{Implementation, SqlDoc, SqlFunction};

use crate::config::Config;
use crate::error::{Result, VoidxError};
use crate::policy::Policy;
use crate::storage::catalog::{Catalog, DEFAULT_SCHEMA};
use crate::storage::provider::{Resolver, VoidxCatalogProvider};
use crate::storage::relations;
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
    /// The location check (COPY targets here; sources in their factories).
    pub policy: Arc<Policy>,
    pub catalog_name: String,
    default_timeout: Option<Duration>,
    /// Configured users' roles; `None` when authentication is off (the one
    /// loopback user is an admin).
    roles: Option<std::collections::BTreeMap<String, Role>>,
    /// Plans of plain queries by SQL text, for the next Parse of the same
    /// text ([`prepared`]).
    plans: prepared::PlanCache,
    /// One DML statement per table at a time ([`writers`]).
    writers: writers::Writers,
}

impl Engine {
    /// The session over an open catalog: DataFusion configured for
    /// PostgreSQL clients, the memory pool of `limits.memory_mb`, the
    /// persistent catalog and pg_catalog. Functions and sources are
    /// registered by the composition root ([`crate::app`]).
    pub async fn open(
        config: &Config,
        catalog: Arc<Catalog>,
        policy: Arc<Policy>,
    ) -> Result<Arc<Engine>> {
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
        crate::failpoint::register(&ctx);
        Ok(Arc::new(Engine {
            ctx,
            catalog,
            resolver,
            system,
            policy,
            catalog_name: config.catalog.clone(),
            default_timeout: config.statement_timeout(),
            roles: config.auth_enabled().then(|| config.roles()),
            plans: prepared::PlanCache::new(),
            writers: writers::Writers::default(),
        }))
    }

    /// Registers `functions` in the session and lists them in pg_catalog
    /// (`\df`, `pg_proc`, `information_schema.routines`).
    pub async fn register_functions(
        &self,
        functions: &[(&'static str, Vec<SqlFunction>)],
    ) -> Result<()> {
        for (_, section) in functions {
            for function in section {
                function.register(&self.ctx);
            }
        }
        pg_functions::install(
            &self.ctx,
            &self.catalog_name,
            Arc::clone(&self.catalog),
            functions,
        )
        .await
    }

    pub fn default_timeout(&self) -> Option<Duration> {
        self.default_timeout
    }

    /// A fresh session for an authenticated `user`. An unknown user (which
    /// authentication has already refused) gets the least role.
    pub fn session_for(&self, user: &str) -> Session {
        let role = match &self.roles {
            None => Role::Admin,
            Some(roles) => roles.get(user).copied().unwrap_or(Role::Reader),
        };
        Session::new(user, role)
    }

    /// The context a session's statements run in: the shared one, or — when
    /// the session changed settings — a copy of its state (same catalogs,
    /// functions and runtime, so the same memory pool) with those settings.
    fn session_context(&self, session: &Session) -> Result<Arc<SessionContext>> {
        let ctx = self.settings_context(session)?;
        Ok(match &session.temp {
            Some(temp) if !temp.is_empty() => temp.context(&ctx, &self.catalog_name),
            _ => ctx,
        })
    }

    fn settings_context(&self, session: &Session) -> Result<Arc<SessionContext>> {
        if session.settings().is_empty() {
            return Ok(Arc::clone(&self.ctx));
        }
        let mut state = self.ctx.state();
        for (key, value) in session.settings() {
            state.config_mut().options_mut().set(key, value)?;
        }
        // Functions that read the configuration (now(), …) see this session's.
        let udfs: Vec<_> = state
            .scalar_functions()
            .values()
            .filter_map(|udf| {
                udf.inner()
                    .with_updated_config(state.config().options())
                    .map(Arc::new)
            })
            .collect();
        for udf in udfs {
            state.register_udf(udf)?;
        }
        Ok(Arc::new(SessionContext::new_with_state(state)))
    }

    /// Create (or replace) the managed table `schema.name` holding `batches`, in one commit.
    pub async fn create_table_with_data(
        &self,
        schema: &str,
        name: &str,
        arrow_schema: arrow::datatypes::SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<()> {
        relations::ensure_schema(&self.catalog, schema).await?;
        relations::store_table(
            &self.catalog,
            &self.resolver,
            schema,
            name,
            arrow_schema,
            batches,
            true,
        )
        .await
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
        let temp_create = matches!(stmt.as_pg(), Some(PgStatement::CreateTable(c)) if c.temporary);
        if ddl::is_catalog_statement(stmt) || settings_statement(stmt) || temp_create {
            return Ok(ddl::empty_plan());
        }
        let rewritten = rewrite::to_merge(stmt)?;
        let stmt = rewritten.as_ref().unwrap_or(stmt);
        let plan = self.ctx.state().statement_to_plan(stmt.to_df()).await?;
        Ok(match plan {
            LogicalPlan::Ddl(_) => ddl::empty_plan(),
            other => other,
        })
    }

    /// Run one statement as the operator (an admin session of its own).
    /// `timeout` (or the configured default) bounds queries and writes;
    /// catalog changes are short and never cut halfway. A panic while running
    /// it (or while streaming its rows) fails this statement alone with
    /// XX000 ([`guard`]).
    pub async fn execute(
        &self,
        stmt: &Stmt,
        params: Option<&ParamValues>,
        timeout: Option<Duration>,
    ) -> Result<Output> {
        self.execute_in(&mut Session::admin(), stmt, params, timeout)
            .await
    }

    /// Run one statement in `session`: its role is checked first, `SET` /
    /// `RESET` / `SHOW` change or read only its settings, and its queries
    /// run with those settings. A write that lost a Delta commit race runs
    /// again ([`retry`]); a panic fails this statement alone ([`guard`]).
    pub async fn execute_in(
        &self,
        session: &mut Session,
        stmt: &Stmt,
        params: Option<&ParamValues>,
        timeout: Option<Duration>,
    ) -> Result<Output> {
        roles::check(session.role, stmt)?;
        targets::check_ddl(self, session.role, stmt)?;
        if let Some(output) = self.settings_command(session, stmt)? {
            return Ok(output);
        }
        let session = &*session;
        let attempts = retry::run(stmt, timeout.or(self.default_timeout), |left| {
            self.execute_unguarded(session, stmt, params, left)
        });
        guard::run(|| stmt.to_string(), attempts).await
    }

    async fn execute_unguarded(
        &self,
        session: &Session,
        stmt: &Stmt,
        params: Option<&ParamValues>,
        timeout: Option<Duration>,
    ) -> Result<Output> {
        if let Some(temp) = &session.temp
            && let Some(tag) = temp::drop(temp, stmt)?
        {
            return Ok(Output::Command(tag));
        }
        if let Some(tag) = ddl::execute_catalog_statement(self, stmt).await? {
            return Ok(Output::Command(tag));
        }
        let ctx = self.session_context(session)?;
        if let Some(tag) = self.temp_create(session, &ctx, stmt).await? {
            return Ok(Output::Command(tag));
        }
        let rewritten = rewrite::to_merge(stmt)?;
        let stmt = rewritten.as_ref().unwrap_or(stmt);
        let timeout = timeout.or(self.default_timeout);
        let deadline = timeout.map(|t| (tokio::time::Instant::now() + t, t));
        // Held until this statement has committed: planned on the snapshot
        // the previous writer of the table left.
        let _writing = match writers::dml_target(stmt) {
            Some(table) => Some(timeout::run(deadline, self.writers.lock(&table)).await?),
            None => None,
        };
        let mut plan =
            timeout::run(deadline, ctx.state().statement_to_plan(stmt.to_df())).await??;
        if let Some(params) = params {
            plan = plan.replace_params_with_values(params)?;
        }
        match plan {
            // Every SET / RESET is a session command (`settings_command`); one
            // planned here would change a shared context, so it never runs.
            LogicalPlan::Statement(Statement::SetVariable(_) | Statement::ResetVariable(_)) => {
                Err(VoidxError::Internal(
                    "a SET or RESET reached the planner instead of the session".into(),
                ))
            }
            LogicalPlan::Copy(mut copy) => {
                // Write where the checked form points, never the text.
                copy.output_url = self.policy.check_export(&copy.output_url)?.to_string();
                let df = timeout::run(deadline, ctx.execute_logical_plan(LogicalPlan::Copy(copy)))
                    .await??;
                let batches = timeout::run(deadline, df.collect()).await??;
                Ok(Output::Command(CommandTag::with_rows(
                    "COPY",
                    count_rows(&batches),
                )))
            }
            LogicalPlan::Ddl(ddl) => Ok(Output::Command(
                ddl::execute_ddl(self, ddl, deadline).await?,
            )),
            LogicalPlan::Dml(dml) => {
                // Resolved only now: the syntax cannot tell a source from a table.
                targets::check_write(self, session.role, &dml.table_name)?;
                let tag = dml_tag(&dml);
                let target = dml.table_name.clone();
                let batches =
                    timeout::run(deadline, ctx.execute_logical_plan(LogicalPlan::Dml(dml)))
                        .await??;
                let batches = timeout::run(deadline, batches.collect()).await??;
                let (schema, name) = targets::schema_and_name(&target);
                self.catalog.compact_after_write(&schema, &name).await;
                // PostgreSQL's TRUNCATE tag carries no count.
                if matches!(tag, "TRUNCATE TABLE") {
                    return Ok(Output::Command(CommandTag::new(tag)));
                }
                Ok(Output::Command(CommandTag::with_rows(
                    tag,
                    count_rows(&batches),
                )))
            }
            plan => {
                let df = timeout::run(deadline, ctx.execute_logical_plan(plan)).await??;
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
        // One session for the whole script, so its SETs apply to what follows.
        let mut session = Session::admin();
        for stmt in self.parse(sql)? {
            match self.execute_in(&mut session, &stmt, None, None).await? {
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

    /// Run a script of `COMMENT ON` statements as the operator in one
    /// catalog commit (all or none); the number applied. The demo describes
    /// every table, view and column this way: one commit, not hundreds.
    pub async fn execute_comments(&self, sql: &str) -> Result<usize> {
        ddl::comment_all(self, &self.parse(sql)?).await
    }

    /// Loads what other servers over the same data directory (replicas)
    /// committed to the catalog, and drops what this process holds for
    /// relations that changed or left there (docs/scale.md). When nothing
    /// changed this costs one existence check of the catalog's next commit.
    pub async fn refresh_catalog(&self) -> Result<()> {
        for old in self.catalog.refresh().await? {
            self.resolver.forget_external(&old);
            let now = self.catalog.get(&old.schema, &old.name);
            if let Some(location) = old.location.as_deref()
                && now.and_then(|e| e.location).as_deref() != Some(location)
            {
                self.catalog.forget_table(location);
            }
        }
        Ok(())
    }
}

impl Engine {
    /// `CREATE TEMP TABLE`: in the connection's own tables, never the catalog.
    async fn temp_create(
        &self,
        session: &Session,
        ctx: &SessionContext,
        stmt: &Stmt,
    ) -> Result<Option<CommandTag>> {
        let is_temp = matches!(stmt.as_pg(), Some(PgStatement::CreateTable(c)) if c.temporary);
        if !is_temp {
            return Ok(None);
        }
        let Some(temp) = &session.temp else {
            return Err(VoidxError::Unsupported(
                "temporary tables exist only in a PostgreSQL connection (they end with it). \
                 Help: create a regular table here, or connect with psql"
                    .into(),
            ));
        };
        temp::create(temp, ctx, stmt).await
    }
}

/// `SET` / `RESET` / `SHOW` forms answered from the session, not planned.
fn settings_statement(stmt: &Stmt) -> bool {
    match stmt.as_pg() {
        Some(PgStatement::Set(_)) => true,
        Some(PgStatement::Reset(_)) => true,
        Some(PgStatement::ShowVariable { variable }) => {
            show_name(variable).starts_with("datafusion.")
        }
        _ => false,
    }
}

/// `'UTC'` → `UTC`, `1` → `1`, `on` → `on`.
fn setting_value(expr: &datafusion::sql::sqlparser::ast::Expr) -> String {
    use datafusion::sql::sqlparser::ast::{Expr, Value};
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
            other => other.to_string(),
        },
        Expr::Identifier(i) => i.value.clone(),
        other => other.to_string(),
    }
}

/// `"datafusion.runtime.x"`, `"datafusion"."runtime"."x"` and
/// `datafusion.runtime.x` name one setting, as in PostgreSQL: quotes are
/// not part of the name.
fn setting_name(name: &datafusion::sql::sqlparser::ast::ObjectName) -> String {
    name.0
        .iter()
        .map(|part| {
            part.as_ident()
                .map(|i| i.value.clone())
                .unwrap_or_else(|| part.to_string())
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn show_name(variable: &[datafusion::sql::sqlparser::ast::Ident]) -> String {
    variable
        .iter()
        .map(|i| i.value.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(".")
}

impl Engine {
    /// Settings statements the planner does not model as this session's.
    fn settings_command(&self, session: &mut Session, stmt: &Stmt) -> Result<Option<Output>> {
        let Some(pg) = stmt.as_pg() else {
            return Ok(None);
        };
        let tag = match pg {
            PgStatement::Set(Set::SetTimeZone { value, .. }) => {
                let text = value.to_string();
                let zone = text.trim_matches(|c| c == '\'' || c == '"');
                session.set("datafusion.execution.time_zone", zone)?;
                "SET"
            }
            // Any scope (SESSION, LOCAL): the session is the only scope there is.
            PgStatement::Set(Set::SingleAssignment {
                variable, values, ..
            }) => {
                let value: Vec<String> = values.iter().map(setting_value).collect();
                session.set(&setting_name(variable), &value.join(","))?;
                "SET"
            }
            // SET NAMES / TRANSACTION / ROLE …: accepted without effect, as before.
            PgStatement::Set(_) => "SET",
            PgStatement::Reset(reset) => {
                match &reset.reset {
                    Reset::ALL => session.reset(None)?,
                    Reset::ConfigurationParameter(name) => {
                        session.reset(Some(&setting_name(name)))?
                    }
                }
                "RESET"
            }
            PgStatement::ShowVariable { variable } if settings_statement(stmt) => {
                let name = show_name(variable);
                let (key, value) = session.show(&name, self.ctx.state().config().options())?;
                let schema = Arc::new(arrow::datatypes::Schema::new(vec![
                    arrow::datatypes::Field::new(&key, arrow::datatypes::DataType::Utf8, false),
                ]));
                let batch = RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![Arc::new(arrow::array::StringArray::from(vec![value]))],
                )?;
                let stream = datafusion::physical_plan::memory::MemoryStream::try_new(
                    vec![batch],
                    schema,
                    None,
                )?;
                return Ok(Some(Output::Rows(Box::pin(stream))));
            }
            _ => return Ok(None),
        };
        Ok(Some(Output::Command(CommandTag::new(tag))))
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

const VERSION_DOC: SqlDoc = SqlDoc {
    name: "version",
    kind: "scalar",
    syntax: "version()",
    description: "The server's version in PostgreSQL's shape (`PostgreSQL 16.6 (VOIDX x.y.z, Apache DataFusion n)`): drivers (SQLAlchemy, JDBC) parse \"PostgreSQL X.Y\" out of it to pick their dialect.",
    arguments: &[],
    example: "SELECT version();",
};

/// The server's own functions: `version()` in PostgreSQL's shape (drivers
/// such as SQLAlchemy and JDBC parse "PostgreSQL X.Y" out of it to pick
/// their dialect).
pub fn functions() -> Vec<SqlFunction> {
    vec![version_function()]
}

fn version_function() -> SqlFunction {
    let text = format!(
        "PostgreSQL 16.6 (VOIDX {}, Apache DataFusion {})",
        env!("CARGO_PKG_VERSION"),
        datafusion::DATAFUSION_VERSION
    );
    let udf = datafusion::logical_expr::create_udf(
        VERSION_DOC.name,
        vec![],
        arrow::datatypes::DataType::Utf8,
        datafusion::logical_expr::Volatility::Stable,
        Arc::new(move |_args: &[datafusion::logical_expr::ColumnarValue]| {
            Ok(datafusion::logical_expr::ColumnarValue::Scalar(
                datafusion::common::ScalarValue::Utf8(Some(text.clone())),
            ))
        }),
    );
    SqlFunction {
        doc: VERSION_DOC,
        implementation: Implementation::Scalar(Arc::new(udf)),
    }
}
