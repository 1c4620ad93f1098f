//! Execute of a prepared statement (extended protocol) reuses the plan made
//! at Parse when nothing it depends on has changed, instead of parsing and
//! planning the SQL a second time.
//!
//! A logical plan holds its table providers, and a managed table's provider
//! reads one Delta version; so the Parse-time plan is reused only when it
//! still reads what a fresh plan would: a plain query, the connection has
//! neither settings of its own nor temporary tables (the plan was made in
//! the shared context), and every table it reads is a managed table whose
//! name still means the same table (locations are never reused, so a
//! dropped and re-created table is told apart) at its latest version.
//! Anything else — views, DDL, writes, table functions, external and system
//! tables — is planned again as before.

use std::sync::Arc;
use std::time::Duration;

use datafusion::catalog::TableProvider;
use datafusion::common::ParamValues;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::Statement as PgStatement;

use super::parse::Stmt;
use super::session::Session;
use super::{Engine, Output, guard, roles, timeout};
use crate::error::Result;
use crate::storage::managed_table::ManagedTable;

impl Engine {
    /// Run a prepared statement: its Parse-time plan when still valid,
    /// else exactly as [`Engine::execute_in`].
    pub async fn execute_prepared(
        &self,
        session: &mut Session,
        stmt: &Stmt,
        plan: &LogicalPlan,
        params: Option<&ParamValues>,
        timeout: Option<Duration>,
    ) -> Result<Output> {
        if !self.reusable(session, stmt, plan).await? {
            return self.execute_in(session, stmt, params, timeout).await;
        }
        roles::check(session.role, stmt)?;
        let mut plan = plan.clone();
        if let Some(params) = params {
            plan = plan.replace_params_with_values(params)?;
        }
        let deadline = timeout
            .or(self.default_timeout)
            .map(|t| (tokio::time::Instant::now() + t, t));
        let run = async {
            let df = timeout::run(deadline, self.ctx.execute_logical_plan(plan)).await??;
            let stream = timeout::run(deadline, df.execute_stream()).await??;
            Ok(Output::Rows(timeout::wrap(stream, deadline)))
        };
        guard::run(|| stmt.to_string(), run).await
    }

    async fn reusable(&self, session: &Session, stmt: &Stmt, plan: &LogicalPlan) -> Result<bool> {
        let plain_query = matches!(stmt.as_pg(), Some(PgStatement::Query(_)));
        let own_context =
            !session.settings().is_empty() || session.temp.as_ref().is_some_and(|t| !t.is_empty());
        if !plain_query || own_context {
            return Ok(false);
        }
        let Some(tables) = managed_tables(plan) else {
            return Ok(false);
        };
        for table in &tables {
            let current = match table.downcast_ref::<ManagedTable>() {
                Some(managed) => managed.is_current(&self.catalog).await?,
                None => false,
            };
            if !current {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Every managed table `plan` reads (subqueries too), or `None` when it
/// reads anything else, or writes.
fn managed_tables(plan: &LogicalPlan) -> Option<Vec<Arc<dyn TableProvider>>> {
    let mut tables = Vec::new();
    let mut other = false;
    let walked = plan.apply_with_subqueries(|node| {
        match node {
            LogicalPlan::TableScan(scan) => match source_as_provider(&scan.source) {
                Ok(provider) if provider.downcast_ref::<ManagedTable>().is_some() => {
                    tables.push(provider)
                }
                _ => other = true,
            },
            LogicalPlan::Dml(_) | LogicalPlan::Ddl(_) | LogicalPlan::Copy(_) => other = true,
            _ => {}
        }
        Ok(if other {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    (walked.is_ok() && !other).then_some(tables)
}
