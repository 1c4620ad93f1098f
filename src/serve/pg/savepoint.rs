//! `SAVEPOINT`, `RELEASE [SAVEPOINT]` and `ROLLBACK TO [SAVEPOINT]`, answered
//! the way datafusion-postgres' transaction hook answers `BEGIN`/`COMMIT`:
//! drivers (psycopg 3's `conn.transaction()` inside a block, hence
//! SQLAlchemy's connect) get PostgreSQL's replies, but nothing is undone —
//! every statement has already committed on its own (docs/sql.md).
//!
//! The names are checked like PostgreSQL does (a savepoint exists only inside
//! a block, `RELEASE`/`ROLLBACK TO` an unknown name is 3B001), so a client's
//! bookkeeping error still shows. They live in the connection's metadata and
//! are forgotten at `BEGIN`, `COMMIT` and `ROLLBACK`.
//!
//! ```sql
//! BEGIN; SAVEPOINT a; SELECT 1; RELEASE SAVEPOINT a; COMMIT;
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Ident, Statement};
use datafusion_postgres::QueryHook;
use datafusion_postgres::hooks::HookClient;
use pgwire::api::ClientInfo;
use pgwire::api::results::{Response, Tag};
use pgwire::error::{ErrorInfo, PgWireResult};
use pgwire::messages::response::TransactionStatus;

/// Client metadata key: the open savepoints of the current block, as a JSON list.
const SAVEPOINTS_KEY: &str = "voidx.savepoints";

/// Answers the savepoint statements; must come before
/// `TransactionStatementHook`, which would take `ROLLBACK TO` for `ROLLBACK`.
#[derive(Debug)]
pub struct SavepointHook;

/// PostgreSQL folds unquoted names to lower case.
fn folded(name: &Ident) -> String {
    match name.quote_style {
        Some(_) => name.value.clone(),
        None => name.value.to_lowercase(),
    }
}

fn stack_of<C: ClientInfo + ?Sized>(client: &C) -> Vec<String> {
    client
        .metadata()
        .get(SAVEPOINTS_KEY)
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default()
}

fn store<C: ClientInfo + ?Sized>(client: &mut C, stack: &[String]) {
    let text = serde_json::to_string(stack).unwrap_or_default();
    client.metadata_mut().insert(SAVEPOINTS_KEY.into(), text);
}

fn error(code: &str, message: String, hint: &str) -> Response {
    let mut info = ErrorInfo::new("ERROR".into(), code.into(), message);
    info.hint = Some(hint.into());
    Response::Error(Box::new(info))
}

fn outside_block(what: &str) -> Response {
    error(
        "25P01",
        format!("{what} can only be used in transaction blocks"),
        "BEGIN first; outside a block every statement commits on its own anyway",
    )
}

fn aborted() -> Response {
    error(
        "25P02",
        "current transaction is aborted, commands ignored until end of transaction block".into(),
        "ROLLBACK, then run the block again",
    )
}

fn unknown(name: &str) -> Response {
    error(
        "3B001",
        format!("savepoint \"{name}\" does not exist"),
        "SAVEPOINT <name> inside this block first",
    )
}

/// The reply to `stmt` if it is a savepoint statement; `BEGIN`/`COMMIT`/
/// `ROLLBACK` only clear the names and are left to the next hook.
fn respond<C: ClientInfo + ?Sized>(client: &mut C, stmt: &Statement) -> Option<Response> {
    let status = client.transaction_status();
    let mut stack = stack_of(client);
    let position = |stack: &[String], name: &Ident| {
        let name = folded(name);
        stack.iter().rposition(|s| *s == name)
    };
    let response = match stmt {
        Statement::Savepoint { name } => match status {
            TransactionStatus::Idle => outside_block("SAVEPOINT"),
            TransactionStatus::Error => aborted(),
            TransactionStatus::Transaction => {
                stack.push(folded(name));
                Response::Execution(Tag::new("SAVEPOINT"))
            }
        },
        Statement::ReleaseSavepoint { name } => match (status, position(&stack, name)) {
            (TransactionStatus::Idle, _) => outside_block("RELEASE SAVEPOINT"),
            (TransactionStatus::Error, _) => aborted(),
            (_, None) => unknown(&folded(name)),
            (_, Some(i)) => {
                // Releasing a savepoint also releases the ones set after it.
                stack.truncate(i);
                Response::Execution(Tag::new("RELEASE"))
            }
        },
        Statement::Rollback {
            savepoint: Some(name),
            ..
        } => match (status, position(&stack, name)) {
            (TransactionStatus::Idle, _) => outside_block("ROLLBACK TO SAVEPOINT"),
            (_, None) => unknown(&folded(name)),
            // pgwire moves a failed block only to idle, never back into the
            // block, so the failure cannot be taken back here.
            (TransactionStatus::Error, Some(_)) => error(
                "0A000",
                "ROLLBACK TO SAVEPOINT cannot recover a failed transaction block on this server"
                    .into(),
                "ROLLBACK the whole block and run it again (statements before the error have committed)",
            ),
            (TransactionStatus::Transaction, Some(i)) => {
                // The savepoint itself stays, as in PostgreSQL.
                stack.truncate(i + 1);
                Response::Execution(Tag::new("ROLLBACK"))
            }
        },
        Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. } => {
            store(client, &[]);
            return None;
        }
        _ => return None,
    };
    store(client, &stack);
    Some(response)
}

#[async_trait]
impl QueryHook for SavepointHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _session_context: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        respond(client, statement).map(Ok)
    }

    async fn handle_extended_parse_query(
        &self,
        stmt: &Statement,
        _session_context: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        // No plan to build: the reply is decided at execution.
        matches!(
            stmt,
            Statement::Savepoint { .. } | Statement::ReleaseSavepoint { .. }
        )
        .then(|| {
            Ok(LogicalPlan::EmptyRelation(
                datafusion::logical_expr::EmptyRelation {
                    produce_one_row: false,
                    schema: Arc::new(datafusion::common::DFSchema::empty()),
                },
            ))
        })
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _logical_plan: &LogicalPlan,
        _params: &ParamValues,
        _session_context: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        respond(client, statement).map(Ok)
    }
}
