//! Simple and extended query protocol over the engine. datafusion-postgres'
//! hooks answer `SET`/`SHOW`, `BEGIN`/`COMMIT`/`ROLLBACK` and cursors; every
//! other statement goes to [`Engine::execute`].

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::Statement as PgStatement;
use datafusion_postgres::QueryHook;
use datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters_with_server_types;
use datafusion_postgres::arrow_pg::datatypes::{
    arrow_schema_to_pg_fields, encode_recordbatch, into_pg_type,
};
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use futures::{Sink, StreamExt, stream};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::types::format::FormatOptions;

use super::errors::{error_info, to_pgwire};
use crate::engine::{CommandTag, Engine, Output, Stmt};
use crate::error::VoidxError;

/// The prepared-statement type; the same shape datafusion-postgres' hooks
/// expect in the portal store. `None` marks statements only DataFusion's
/// parser reads (`CREATE EXTERNAL TABLE`); they are re-parsed at execution.
pub type PreparedStatement = (String, Option<(PgStatement, LogicalPlan)>);

/// Client metadata key datafusion-postgres' `SetShowHook` uses for `SET statement_timeout`.
const STATEMENT_TIMEOUT_KEY: &str = "statement_timeout_ms";

pub struct QueryHandler {
    engine: Arc<Engine>,
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
        }
    }
}

/// The session's `statement_timeout` (`SET statement_timeout = '5s'`), else the configured default.
fn timeout_of<C: ClientInfo + ?Sized>(client: &C, engine: &Engine) -> Option<Duration> {
    match client
        .metadata()
        .get(STATEMENT_TIMEOUT_KEY)
        .and_then(|v| v.parse::<u64>().ok())
    {
        Some(0) => None,
        Some(ms) => Some(Duration::from_millis(ms)),
        None => engine.default_timeout(),
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

fn encode(output: Output, format: &Format, options: Arc<FormatOptions>) -> PgWireResult<Response> {
    match output {
        Output::Command(command) => Ok(Response::Execution(tag_of(command))),
        Output::Rows(batches) => {
            let fields = Arc::new(arrow_schema_to_pg_fields(
                batches.schema().as_ref(),
                format,
                Some(options),
            )?);
            let fields_ref = Arc::clone(&fields);
            let rows = batches
                .map(move |batch| {
                    let rows: Box<dyn Iterator<Item = PgWireResult<_>> + Send + Sync> = match batch
                    {
                        Ok(batch) => encode_recordbatch(Arc::clone(&fields_ref), batch),
                        Err(e) => {
                            Box::new(std::iter::once(Err(to_pgwire(VoidxError::DataFusion(e)))))
                        }
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
        let statements = match self.engine.parse(query) {
            Ok(s) => s,
            Err(e) => return Ok(vec![Response::Error(Box::new(error_info(&e)))]),
        };
        let mut responses = Vec::with_capacity(statements.len());
        'statements: for stmt in statements {
            if let Some(pg) = stmt.as_pg() {
                for hook in &self.hooks {
                    if let Some(result) =
                        hook.handle_simple_query(pg, &self.engine.ctx, client).await
                    {
                        responses.push(result?);
                        continue 'statements;
                    }
                }
            }
            let timeout = timeout_of(client, &self.engine);
            let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
            match self.engine.execute(&stmt, None, timeout).await {
                Ok(output) => responses.push(encode(output, &Format::UnifiedText, options)?),
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

/// Parameter types in `$1, $2, …` order.
fn parameter_types(plan: &LogicalPlan) -> PgWireResult<Vec<Option<DataType>>> {
    let types = plan
        .get_parameter_types()
        .map_err(|e| to_pgwire(e.into()))?;
    let mut ordered: Vec<(usize, Option<DataType>)> = types
        .into_iter()
        .filter_map(|(name, t)| {
            name.trim_start_matches('$')
                .parse::<usize>()
                .ok()
                .map(|i| (i, t))
        })
        .collect();
    ordered.sort_by_key(|(i, _)| *i);
    Ok(ordered.into_iter().map(|(_, t)| t).collect())
}

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
        let plan = self.engine.plan(&stmt).await.map_err(to_pgwire)?;
        Ok(Some((sql.to_string(), Some((pg, plan)))))
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        match &stmt.1 {
            Some((_, plan)) => wire_types(&parameter_types(plan)?),
            None => Ok(vec![]),
        }
    }

    fn get_result_schema(
        &self,
        stmt: &Self::Statement,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        match &stmt.1 {
            Some((_, plan)) if !matches!(plan, LogicalPlan::Ddl(_) | LogicalPlan::Dml(_)) => {
                arrow_schema_to_pg_fields(
                    plan.schema().as_arrow(),
                    format.unwrap_or(&Format::UnifiedText),
                    None,
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
        let timeout = timeout_of(client, &self.engine);
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        let Some((pg, plan)) = prepared else {
            // A statement only DataFusion parses: no parameters, run as text.
            let stmt = self.engine.parse(sql).map_err(to_pgwire)?.pop();
            return match stmt {
                Some(stmt) => encode(
                    self.engine
                        .execute(&stmt, None, timeout)
                        .await
                        .map_err(to_pgwire)?,
                    &portal.result_column_format,
                    options,
                ),
                None => Ok(Response::EmptyQuery),
            };
        };
        let types = parameter_types(plan)?;
        let wire = wire_types(&types)?;
        let type_refs: Vec<Option<&DataType>> = types.iter().map(|t| t.as_ref()).collect();
        let wire_refs: Vec<Option<&Type>> = wire.iter().map(Some).collect();
        let params: ParamValues =
            deserialize_parameters_with_server_types(portal, &type_refs, &wire_refs)?;
        for hook in &self.hooks {
            if let Some(result) = hook
                .handle_extended_query(pg, plan, &params, &self.engine.ctx, client)
                .await
            {
                return result;
            }
        }
        let stmt = Stmt::Pg(Box::new(pg.clone()));
        let params = (!types.is_empty()).then_some(&params);
        let output = self
            .engine
            .execute(&stmt, params, timeout)
            .await
            .map_err(to_pgwire)?;
        encode(output, &portal.result_column_format, options)
    }
}
