//! Simple and extended query protocol over the engine. datafusion-postgres'
//! hooks answer PostgreSQL's own `SET`/`SHOW` names (`statement_timeout`,
//! `DateStyle`, …), `BEGIN`/`COMMIT`/`ROLLBACK` and cursors, and
//! [`super::savepoint`] answers savepoints; every other
//! statement — including `SET`/`RESET`/`SHOW` of DataFusion settings, which
//! the hook would write into the shared context — goes to
//! [`Engine::execute_in`] with this connection's [`Session`] (its role, and
//! its settings kept in the client's metadata between statements).

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::sqlparser::ast::{Set, Statement as PgStatement};
use datafusion_postgres::QueryHook;
use datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters_with_server_types;
use datafusion_postgres::arrow_pg::datatypes::{encode_recordbatch, into_pg_type};
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use futures::{Sink, StreamExt, stream};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    DescribePortalResponse, DescribeStatementResponse, FieldInfo, QueryResponse, Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::types::format::FormatOptions;

use super::errors::{error_info, to_pgwire};
use super::fields::describe;
use super::notices;
use super::savepoint::SavepointHook;
use super::text_values::postgres_text;
use crate::engine::column_names::{OutputNames, output_names};
use crate::engine::{
    CommandTag, Engine, Output, Role, Session, Stmt, TempTables, answered_per_connection, bind,
    check_role,
};
use crate::error::VoidxError;
use crate::progress;

/// The prepared-statement type; the same shape datafusion-postgres' hooks
/// expect in the portal store. `None` marks statements planned at execution:
/// those only DataFusion's parser reads (`CREATE EXTERNAL TABLE`), and those
/// with a parameter in a table function's arguments, which is planned with
/// the portal's values written in ([`bind`]).
pub type PreparedStatement = (String, Option<(PgStatement, LogicalPlan)>);

/// Client metadata key datafusion-postgres' `SetShowHook` uses for `SET statement_timeout`.
const STATEMENT_TIMEOUT_KEY: &str = "statement_timeout_ms";

/// Client metadata keys holding this connection's settings. Startup
/// parameters land in the same map, so they are re-validated on every use.
const SETTING_PREFIX: &str = "voidx.setting.";

fn session_of<C: ClientInfo + ?Sized>(client: &C, engine: &Engine) -> Session {
    let metadata = client.metadata();
    let user = metadata
        .get(pgwire::api::METADATA_USER)
        .map(String::as_str)
        .unwrap_or_default();
    let mut session = engine.session_for(user);
    for (key, value) in metadata {
        if let Some(name) = key.strip_prefix(SETTING_PREFIX) {
            // Refused names (server-wide, unknown) are simply not applied.
            let _ = session.set(name, value);
        }
    }
    session
}

fn store_session<C: ClientInfo + ?Sized>(client: &mut C, session: &Session) {
    let metadata = client.metadata_mut();
    metadata.retain(|k, _| !k.starts_with(SETTING_PREFIX));
    for (key, value) in session.settings() {
        metadata.insert(format!("{SETTING_PREFIX}{key}"), value.clone());
    }
    if let Some(zone) = session.settings().get("datafusion.execution.time_zone") {
        metadata.insert("timezone".into(), zone.clone());
    }
}

/// The plan a statement runs with, and the SQL text it was made of.
enum Plan<'a> {
    /// None yet: planned as it runs.
    None,
    /// Made at Parse: used while still valid, else planned again.
    Prepared(&'a str, &'a LogicalPlan),
    /// Valid now (just made, or just taken from the plan cache).
    Valid(&'a str, &'a LogicalPlan),
}

/// Runs `stmt` in this connection's `session` (with `plan` when it has one:
/// a plan from Parse is reused only when still valid), then keeps what it changed
/// (settings) on the connection, whether it succeeded or not. What the
/// statement notes as it goes ([`crate::progress`]) reaches the client as
/// NOTICE messages while it runs.
async fn execute<C>(
    engine: &Engine,
    client: &mut C,
    session: &mut Session,
    stmt: &Stmt,
    plan: Plan<'_>,
    params: Option<&ParamValues>,
    timeout: Option<Duration>,
) -> crate::error::Result<Output>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + ?Sized,
{
    let (progress, notes) = progress::channel();
    let run = progress::scope(progress, async {
        let output = match plan {
            Plan::Prepared(sql, plan) => {
                engine
                    .execute_prepared(session, sql, stmt, plan, params, timeout)
                    .await
            }
            Plan::Valid(sql, plan) => {
                engine
                    .execute_planned(session, sql, stmt, plan, params, timeout)
                    .await
            }
            Plan::None => engine.execute_in(session, stmt, params, timeout).await,
        };
        first_batch(output?).await
    });
    let output = notices::forward(client, notes, run).await;
    store_session(client, session);
    output
}

/// Polls a query's first batch before answering: a table function does its
/// work (`train`, `ingest` …) then, and its notes must go out while the
/// client waits, not after the row stream has taken over the connection.
/// An error before the first row also becomes a plain error response.
async fn first_batch(output: Output) -> crate::error::Result<Output> {
    let Output::Rows(mut stream) = output else {
        return Ok(output);
    };
    let schema = stream.schema();
    let first = match stream.next().await {
        Some(batch) => Some(batch?),
        None => None,
    };
    let rest = stream::iter(first.map(Ok)).chain(stream);
    Ok(Output::Rows(Box::pin(RecordBatchStreamAdapter::new(
        schema, rest,
    ))))
}

/// Settings statements the engine answers from the session rather than
/// `SetShowHook` (whose fallback writes into the context every connection shares).
fn engine_answers(pg: &PgStatement) -> bool {
    match pg {
        PgStatement::Set(Set::SingleAssignment { variable, .. }) => {
            !answered_per_connection(&variable.to_string())
        }
        PgStatement::Set(_) | PgStatement::Reset(_) => true,
        PgStatement::ShowVariable { variable } => variable
            .first()
            .is_some_and(|v| v.value.to_ascii_lowercase().starts_with("datafusion")),
        _ => false,
    }
}

/// `statement_timeout` is a limit: only an admin may raise it above (or
/// switch off) the configured `limits.statement_timeout_ms`.
fn check_timeout_limit(
    pg: &PgStatement,
    session: &Session,
    engine: &Engine,
) -> crate::error::Result<()> {
    let (Some(limit), true) = (engine.default_timeout(), session.role != Role::Admin) else {
        return Ok(());
    };
    let PgStatement::Set(Set::SingleAssignment {
        variable, values, ..
    }) = pg
    else {
        return Ok(());
    };
    if !variable
        .to_string()
        .eq_ignore_ascii_case("statement_timeout")
    {
        return Ok(());
    }
    let text = values.first().map(|v| v.to_string()).unwrap_or_default();
    let text = text.trim_matches(|c| c == '\'' || c == '"').trim();
    let ms = if let Some(n) = text.strip_suffix("ms") {
        n.trim().parse::<u64>().ok()
    } else if let Some(n) = text.strip_suffix("min") {
        n.trim()
            .parse::<u64>()
            .ok()
            .map(|m| m.saturating_mul(60_000))
    } else if let Some(n) = text.strip_suffix('s') {
        n.trim().parse::<u64>().ok().map(|s| s.saturating_mul(1000))
    } else {
        text.parse::<u64>().ok()
    };
    match ms {
        Some(ms) if ms > 0 && u128::from(ms) <= limit.as_millis() => Ok(()),
        _ => Err(VoidxError::NotAllowed(format!(
            "role '{}' cannot raise statement_timeout above the configured limit ({} ms) or turn it off. \
             Help: SET statement_timeout to a value up to {} ms",
            session.role.as_str(),
            limit.as_millis(),
            limit.as_millis()
        ))),
    }
}

pub struct QueryHandler {
    engine: Arc<Engine>,
    /// This connection's temporary tables: one handler per connection, so
    /// they end when it does.
    temp: Arc<TempTables>,
    hooks: Vec<Arc<dyn QueryHook>>,
    parser: Arc<Parser>,
}

pub struct Parser {
    engine: Arc<Engine>,
    hooks: Vec<Arc<dyn QueryHook>>,
}

impl QueryHandler {
    pub fn new(engine: Arc<Engine>) -> QueryHandler {
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(SetShowHook),
            // before the transaction hook, which reads ROLLBACK TO as ROLLBACK
            Arc::new(SavepointHook),
            Arc::new(TransactionStatementHook),
            Arc::new(CursorStatementHook),
        ];
        QueryHandler {
            parser: Arc::new(Parser {
                engine: Arc::clone(&engine),
                hooks: hooks.clone(),
            }),
            engine,
            hooks,
            temp: Arc::default(),
        }
    }

    /// The handler of one new connection: the same engine, hooks and
    /// parser, and temporary tables of its own.
    pub fn for_connection(&self) -> QueryHandler {
        QueryHandler {
            engine: Arc::clone(&self.engine),
            hooks: self.hooks.clone(),
            parser: Arc::clone(&self.parser),
            temp: Arc::default(),
        }
    }

    fn connection_session<C: ClientInfo + ?Sized>(&self, client: &C) -> Session {
        let mut session = session_of(client, &self.engine);
        session.temp = Some(Arc::clone(&self.temp));
        session
    }

    /// The statement, parsed again, when it is one planned at Bind
    /// ([`bind`]); statements planned at Parse are not parsed again.
    fn planned_at_bind(&self, stmt: &PreparedStatement) -> PgWireResult<Option<Box<PgStatement>>> {
        let (sql, None) = stmt else {
            return Ok(None);
        };
        Ok(match self.engine.parse(sql).map_err(to_pgwire)?.pop() {
            Some(Stmt::Pg(pg)) if bind::needs_values_to_plan(&pg) => Some(pg),
            _ => None,
        })
    }

    /// The result columns of a statement planned now.
    async fn result_fields(&self, stmt: &Stmt, format: &Format) -> PgWireResult<Vec<FieldInfo>> {
        let plan = self.engine.plan(stmt).await.map_err(to_pgwire)?;
        if matches!(plan, LogicalPlan::Ddl(_) | LogicalPlan::Dml(_)) {
            return Ok(vec![]);
        }
        describe(
            plan.schema().as_arrow(),
            format,
            None,
            stmt.as_pg().and_then(output_names).as_ref(),
        )
    }
}

/// The session's `statement_timeout` (`SET statement_timeout = '5s'`), else
/// the configured default; below admin, never above the configured default.
fn timeout_of<C: ClientInfo + ?Sized>(
    client: &C,
    engine: &Engine,
    session: &Session,
) -> Option<Duration> {
    let asked = match client
        .metadata()
        .get(STATEMENT_TIMEOUT_KEY)
        .and_then(|v| v.parse::<u64>().ok())
    {
        Some(0) => None,
        Some(ms) => Some(Duration::from_millis(ms)),
        None => engine.default_timeout(),
    };
    match (session.role, engine.default_timeout(), asked) {
        (Role::Admin, ..) | (_, None, _) => asked,
        (_, Some(limit), Some(t)) => Some(t.min(limit)),
        (_, Some(limit), None) => Some(limit),
    }
}

fn tag_of(command: CommandTag) -> Tag {
    let tag = Tag::new(&command.tag);
    match command.rows {
        Some(rows) if command.tag == "INSERT" => tag.with_oid(0).with_rows(rows),
        Some(rows) => tag.with_rows(rows),
        None => tag,
    }
}

/// Rows as PostgreSQL sends them: described by [`describe`] (PostgreSQL's
/// column names and type modifiers, from `names`), text values rendered by
/// [`postgres_text`].
fn encode(
    output: Output,
    format: &Format,
    options: Arc<FormatOptions>,
    names: Option<&OutputNames>,
) -> PgWireResult<Response> {
    match output {
        Output::Command(command) => Ok(Response::Execution(tag_of(command))),
        Output::Rows(batches) => {
            let fields = Arc::new(describe(
                batches.schema().as_ref(),
                format,
                Some(options),
                names,
            )?);
            let fields_ref = Arc::clone(&fields);
            let rows = batches
                .map(move |batch| {
                    let batch = batch
                        .map_err(|e| to_pgwire(VoidxError::DataFusion(e)))
                        .and_then(|b| postgres_text(b, &fields_ref));
                    let rows: Box<dyn Iterator<Item = PgWireResult<_>> + Send + Sync> = match batch
                    {
                        Ok(batch) => encode_recordbatch(Arc::clone(&fields_ref), batch),
                        Err(e) => Box::new(std::iter::once(Err(e))),
                    };
                    stream::iter(rows)
                })
                .flatten();
            Ok(Response::Query(QueryResponse::new(fields, rows)))
        }
    }
}

#[async_trait]
impl SimpleQueryHandler for QueryHandler {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut session = self.connection_session(client);
        // A plain query sent before, by a session planning in the shared
        // context: its statement and plan as they were, while the tables
        // are the same ([`Engine::cached_plan`]); else parsed as usual.
        let cacheable = self.engine.plans_in_shared_context(&session);
        let cached = match cacheable {
            true => self.engine.cached_plan(query).await.ok().flatten(),
            false => None,
        };
        let (statements, mut plan) = match cached {
            Some((stmt, plan)) => (vec![stmt], Some(plan)),
            None => match self.engine.parse(query) {
                Ok(s) => (s, None),
                Err(e) => return Ok(vec![Response::Error(Box::new(error_info(&e)))]),
            },
        };
        let single = statements.len() == 1;
        let mut responses = Vec::with_capacity(statements.len());
        'statements: for stmt in statements {
            if let Some(pg) = stmt.as_pg().filter(|pg| !engine_answers(pg)) {
                let allowed = check_role(session.role, &stmt)
                    .and_then(|()| check_timeout_limit(pg, &session, &self.engine));
                if let Err(e) = allowed {
                    responses.push(Response::Error(Box::new(error_info(&e))));
                    break;
                }
                for hook in &self.hooks {
                    if let Some(result) =
                        hook.handle_simple_query(pg, &self.engine.ctx, client).await
                    {
                        let response = result?;
                        let failed = matches!(response, Response::Error(_));
                        responses.push(response);
                        if failed {
                            // Later statements of the same query string do not run.
                            break 'statements;
                        }
                        continue 'statements;
                    }
                }
            }
            let mut timeout = timeout_of(client, &self.engine, &session);
            let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
            // A lone plain query is planned here, once, within its timeout,
            // and its plan kept for the next time this text comes; execution
            // runs that plan, with what is left of the timeout.
            if plan.is_none() && single && cacheable && self.engine.plan_is_kept(&stmt) {
                let started = std::time::Instant::now();
                match self.engine.plan_within(&stmt, timeout).await {
                    Ok(planned) => {
                        self.engine.keep_plan(query, &stmt, &planned);
                        plan = Some(planned);
                    }
                    Err(e) => {
                        responses.push(Response::Error(Box::new(error_info(&e))));
                        break;
                    }
                }
                let limit = timeout.or(self.engine.default_timeout());
                timeout = limit.map(|t| t.saturating_sub(started.elapsed()));
            }
            let planned = plan.take();
            let result = execute(
                &self.engine,
                client,
                &mut session,
                &stmt,
                planned
                    .as_ref()
                    .map_or(Plan::None, |plan| Plan::Valid(query, plan)),
                None,
                timeout,
            )
            .await;
            match result {
                Ok(output) => {
                    let names = stmt.as_pg().and_then(output_names);
                    responses.push(encode(
                        output,
                        &Format::UnifiedText,
                        options,
                        names.as_ref(),
                    )?)
                }
                Err(e) => {
                    // Later statements of the same query string do not run, as in PostgreSQL.
                    responses.push(Response::Error(Box::new(error_info(&e))));
                    break;
                }
            }
        }
        Ok(responses)
    }
}

/// How many parameters a statement planned at Bind takes.
fn parameter_count(engine: &Engine, sql: &str) -> usize {
    match engine.parse(sql).ok().and_then(|mut s| s.pop()) {
        Some(Stmt::Pg(pg)) => bind::parameter_count(&pg),
        _ => 0,
    }
}

/// `stmt` with the portal's parameter values written in ([`bind`]); each
/// value is decoded as the type the client sent it as, text otherwise.
fn with_values<S: Clone>(stmt: Stmt, portal: &Portal<S>) -> PgWireResult<Stmt> {
    let Stmt::Pg(mut pg) = stmt else {
        return Ok(stmt);
    };
    let count = bind::parameter_count(&pg);
    if count == 0 {
        return Ok(Stmt::Pg(pg));
    }
    let wire = vec![Some(&Type::TEXT); count];
    let values = match deserialize_parameters_with_server_types(portal, &[], &wire)? {
        ParamValues::List(values) => values.into_iter().map(|v| v.value).collect::<Vec<_>>(),
        ParamValues::Map(_) => vec![],
    };
    bind::inline_parameters(&mut pg, &values).map_err(to_pgwire)?;
    Ok(Stmt::Pg(pg))
}

/// Parameter types in `$1, $2, …` order: entry `i` is `$(i + 1)`'s type,
/// `None` when the plan does not say (or does not use that number), so a
/// statement that uses `$2` but not `$1` still reads its values by number.
fn parameter_types(plan: &LogicalPlan) -> PgWireResult<Vec<Option<DataType>>> {
    let types = plan
        .get_parameter_types()
        .map_err(|e| to_pgwire(e.into()))?;
    let numbered: Vec<(usize, Option<DataType>)> = types
        .into_iter()
        .filter_map(|(name, t)| {
            name.trim_start_matches('$')
                .parse::<usize>()
                .ok()
                .filter(|i| (1..=MAX_PARAMETERS).contains(i))
                .map(|i| (i, t))
        })
        .collect();
    let count = numbered.iter().map(|(i, _)| *i).max().unwrap_or(0);
    let mut ordered = vec![None; count];
    for (i, t) in numbered {
        ordered[i - 1] = t;
    }
    Ok(ordered)
}

/// The protocol's limit: Bind carries the parameter count as an Int16.
const MAX_PARAMETERS: usize = u16::MAX as usize;

fn wire_types(types: &[Option<DataType>]) -> PgWireResult<Vec<Type>> {
    types
        .iter()
        .map(|t| match t {
            Some(t) => into_pg_type(t),
            None => Ok(Type::UNKNOWN),
        })
        .collect()
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = PreparedStatement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        // The same text parsed before, reading the same tables at the same
        // versions: its plan as it was (a plain query, which no hook takes).
        // A failed check (storage unreachable) only means parsing as usual.
        let cached = self.engine.cached_plan(sql).await.ok().flatten();
        if let Some((Stmt::Pg(pg), plan)) = cached {
            return Ok(Some((sql.to_string(), Some((*pg, plan)))));
        }
        let mut statements = self.engine.parse(sql).map_err(to_pgwire)?;
        if statements.len() > 1 {
            return Err(to_pgwire(VoidxError::Syntax(
                "cannot insert multiple commands into a prepared statement".into(),
            )));
        }
        let Some(stmt) = statements.pop() else {
            return Ok(None);
        };
        let Some(pg) = stmt.as_pg().cloned() else {
            return Ok(Some((sql.to_string(), None)));
        };
        for hook in &self.hooks {
            if let Some(plan) = hook
                .handle_extended_parse_query(&pg, &self.engine.ctx, client)
                .await
            {
                return Ok(Some((sql.to_string(), Some((pg, plan?)))));
            }
        }
        if bind::needs_values_to_plan(&pg) {
            return Ok(Some((sql.to_string(), None)));
        }
        let plan = self.engine.plan(&stmt).await.map_err(to_pgwire)?;
        self.engine.keep_plan(sql, &stmt, &plan);
        Ok(Some((sql.to_string(), Some((pg, plan)))))
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        match &stmt.1 {
            Some((_, plan)) => wire_types(&parameter_types(plan)?),
            // Planned at Bind: the values arrive as text unless the client
            // said otherwise, and the planner coerces them as it would
            // untyped literals.
            None => Ok(vec![Type::TEXT; parameter_count(&self.engine, &stmt.0)]),
        }
    }

    fn get_result_schema(
        &self,
        stmt: &Self::Statement,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        match &stmt.1 {
            Some((pg, plan)) if !matches!(plan, LogicalPlan::Ddl(_) | LogicalPlan::Dml(_)) => {
                describe(
                    plan.schema().as_arrow(),
                    format.unwrap_or(&Format::UnifiedText),
                    None,
                    output_names(pg).as_ref(),
                )
            }
            _ => Ok(vec![]),
        }
    }
}

#[async_trait]
impl ExtendedQueryHandler for QueryHandler {
    type Statement = PreparedStatement;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        Arc::clone(&self.parser)
    }

    /// A statement planned at Bind is described from its plan with the
    /// portal's values in it; every other one from its plan made at Parse.
    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        portal: &Portal<Self::Statement>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let fields = match self.planned_at_bind(&portal.statement.statement)? {
            Some(pg) => {
                let stmt = with_values(Stmt::Pg(pg), portal)?;
                self.result_fields(&stmt, &portal.result_column_format)
                    .await?
            }
            None => self.parser.get_result_schema(
                &portal.statement.statement,
                Some(&portal.result_column_format),
            )?,
        };
        Ok(DescribePortalResponse::new(fields))
    }

    /// Before Bind, a statement planned at Bind is described with NULL for
    /// every parameter; a table function that cannot plan with NULL
    /// arguments says so, and the portal (after Bind) describes it.
    async fn do_describe_statement<C>(
        &self,
        _client: &mut C,
        target: &StoredStatement<Self::Statement>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let server_types = self.parser.get_parameter_types(&target.statement)?;
        let parameters = (0..target.parameter_types.len().max(server_types.len()))
            .map(|i| {
                target
                    .parameter_types
                    .get(i)
                    .cloned()
                    .flatten()
                    .or_else(|| server_types.get(i).cloned())
                    .unwrap_or(Type::UNKNOWN)
            })
            .collect();
        let fields = match self.planned_at_bind(&target.statement)? {
            Some(mut pg) => {
                let nulls = vec![ScalarValue::Null; bind::parameter_count(&pg)];
                bind::inline_parameters(&mut pg, &nulls).map_err(to_pgwire)?;
                self.result_fields(&Stmt::Pg(pg), &Format::UnifiedText)
                    .await
                    .map_err(|e| {
                        to_pgwire(VoidxError::InvalidArgument(format!(
                            "{e}. The statement passes parameters to a table function, whose \
                             result columns are known once the values are bound: describe the \
                             portal after Bind (as psycopg and pgjdbc do), or pass the \
                             arguments as literals"
                        )))
                    })?
            }
            None => self.parser.get_result_schema(&target.statement, None)?,
        };
        Ok(DescribeStatementResponse::new(parameters, fields))
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (sql, prepared) = &portal.statement.statement;
        let mut session = self.connection_session(client);
        let timeout = timeout_of(client, &self.engine, &session);
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        let Some((pg, plan)) = prepared else {
            // Planned now: a statement only DataFusion parses, or one whose
            // table functions take parameters, with the portal's values in it.
            let stmt = self.engine.parse(sql).map_err(to_pgwire)?.pop();
            return match stmt {
                Some(stmt) => {
                    let stmt = with_values(stmt, portal)?;
                    let output = execute(
                        &self.engine,
                        client,
                        &mut session,
                        &stmt,
                        Plan::None,
                        None,
                        timeout,
                    )
                    .await;
                    encode(
                        output.map_err(to_pgwire)?,
                        &portal.result_column_format,
                        options,
                        stmt.as_pg().and_then(output_names).as_ref(),
                    )
                }
                None => Ok(Response::EmptyQuery),
            };
        };
        let types = parameter_types(plan)?;
        // A parameter whose type the plan does not say (or a number the
        // statement skips) is read as text: decoded as UNKNOWN, a NULL there
        // would take no slot and shift the later values onto it.
        let wire: Vec<Type> = wire_types(&types)?
            .into_iter()
            .map(|t| if t == Type::UNKNOWN { Type::TEXT } else { t })
            .collect();
        let type_refs: Vec<Option<&DataType>> = types.iter().map(|t| t.as_ref()).collect();
        let wire_refs: Vec<Option<&Type>> = wire.iter().map(Some).collect();
        let params: ParamValues =
            deserialize_parameters_with_server_types(portal, &type_refs, &wire_refs)?;
        let stmt = Stmt::Pg(Box::new(pg.clone()));
        if !engine_answers(pg) {
            check_role(session.role, &stmt)
                .and_then(|()| check_timeout_limit(pg, &session, &self.engine))
                .map_err(to_pgwire)?;
            for hook in &self.hooks {
                if let Some(result) = hook
                    .handle_extended_query(pg, plan, &params, &self.engine.ctx, client)
                    .await
                {
                    return result;
                }
            }
        }
        let params = (!types.is_empty()).then_some(&params);
        let output = execute(
            &self.engine,
            client,
            &mut session,
            &stmt,
            Plan::Prepared(sql, plan),
            params,
            timeout,
        )
        .await;
        encode(
            output.map_err(to_pgwire)?,
            &portal.result_column_format,
            options,
            output_names(pg).as_ref(),
        )
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    async fn types_of(sql: &str) -> Vec<Option<DataType>> {
        let plan = SessionContext::new()
            .state()
            .create_logical_plan(sql)
            .await
            .unwrap();
        parameter_types(&plan).unwrap()
    }

    /// Entry `i` is `$(i + 1)`: a number the statement skips stays a gap
    /// instead of shifting the later parameters onto the wrong values.
    #[tokio::test]
    async fn parameter_types_are_indexed_by_number() {
        let from =
            "SELECT * FROM (VALUES (CAST(1 AS BIGINT), 'a', CAST(1.5 AS DOUBLE))) t(a, b, c)";
        assert_eq!(
            types_of(&format!("{from} WHERE a = $1 AND b = $2")).await,
            [Some(DataType::Int64), Some(DataType::Utf8)]
        );
        assert_eq!(
            types_of(&format!("{from} WHERE b = $2")).await,
            [None, Some(DataType::Utf8)]
        );
        assert_eq!(
            types_of(&format!("{from} WHERE c = $3 AND a = $1")).await,
            [Some(DataType::Int64), None, Some(DataType::Float64)]
        );
        assert!(types_of(from).await.is_empty());
    }
}
