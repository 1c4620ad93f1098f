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
//!
//! The same rule lets Parse skip parsing and planning: a plain query's plan
//! is kept by its SQL text ([`PlanCache`]), and the next Parse of that text
//! (an unnamed statement: psycopg's and `pgbench -M extended`'s every
//! execute) takes it when every table it reads is still current. The plan
//! is then exactly what parsing and planning again would make.
//!
//! Execution keeps the optimised plan too, placeholders still in, by text
//! and the Delta version of every table it reads: the next execution only
//! puts its values in and runs the physical planner. Not for a plan the
//! optimiser could make differently once the values are known: one with a
//! placeholder of unknown type or a value of another type, or with a
//! function that is not immutable (`now()` is folded to this moment).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::datatypes::DataType;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, Volatility};
use datafusion::physical_plan::execute_stream;

use datafusion::catalog::TableProvider;
use datafusion::common::ParamValues;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::{SetExpr, Statement as PgStatement};

use datafusion::sql::resolve::resolve_table_references;
use moka::sync::Cache;

use super::parse::Stmt;
use super::session::Session;
use super::{Engine, Output, guard, roles, timeout};
use crate::error::Result;
use crate::storage::catalog::{DEFAULT_SCHEMA, Kind};
use crate::storage::managed_table::ManagedTable;

impl Engine {
    /// Run a prepared statement: its Parse-time plan when still valid,
    /// else exactly as [`Engine::execute_in`].
    pub async fn execute_prepared(
        &self,
        session: &mut Session,
        sql: &str,
        stmt: &Stmt,
        plan: &LogicalPlan,
        params: Option<&ParamValues>,
        timeout: Option<Duration>,
    ) -> Result<Output> {
        if !self.reusable(session, stmt, plan).await? {
            return self.execute_in(session, stmt, params, timeout).await;
        }
        self.execute_planned(session, sql, stmt, plan, params, timeout)
            .await
    }

    /// Run a plain query with a plan that is valid now: made a moment ago
    /// in the shared context by [`Engine::plan`], or just taken from
    /// [`Engine::cached_plan`], for a session that plans in the shared
    /// context ([`Engine::plans_in_shared_context`]). `sql` is the
    /// statement's text: the optimised plan is kept by it
    /// ([`Engine::optimized_plan`]).
    pub async fn execute_planned(
        &self,
        session: &Session,
        sql: &str,
        stmt: &Stmt,
        plan: &LogicalPlan,
        params: Option<&ParamValues>,
        timeout: Option<Duration>,
    ) -> Result<Output> {
        roles::check(session.role, stmt)?;
        let deadline = timeout
            .or(self.default_timeout)
            .map(|t| (tokio::time::Instant::now() + t, t));
        let run = async {
            let state = self.ctx.state();
            let optimized = match self.optimized_plan(sql, stmt, plan, params, &state) {
                Some(optimized) => Some(optimized?),
                None => None,
            };
            let physical = match optimized {
                // Optimised before: only the values go in and the physical
                // planner runs.
                Some(optimized) => {
                    let plan = match params {
                        Some(params) => optimized.replace_params_with_values(params)?,
                        None => optimized,
                    };
                    let planner = state.query_planner().create_physical_plan(&plan, &state);
                    timeout::run(deadline, planner).await??
                }
                None => {
                    let plan = match params {
                        Some(params) => plan.clone().replace_params_with_values(params)?,
                        None => plan.clone(),
                    };
                    timeout::run(deadline, state.create_physical_plan(&plan)).await??
                }
            };
            let stream = execute_stream(physical, state.task_ctx())?;
            Ok(Output::Rows(timeout::wrap(stream, deadline)))
        };
        guard::run(|| stmt.to_string(), run).await
    }

    /// The optimised form of `plan` — a plain query's plan, valid now, of
    /// the text `sql` — with its placeholders still in: optimised the first
    /// time this text runs over these table versions, then taken from
    /// [`PlanCache`] (the logical optimiser was the largest share of a
    /// cached point lookup's time). `None` when optimising before the
    /// values are known could give another plan than optimising after:
    /// a placeholder of unknown type (its value's type then decides the
    /// coercions), a value not of its placeholder's type, or a function
    /// that is not immutable (`now()`, `current_user` are folded to
    /// constants by the optimiser, which must not outlive the statement).
    fn optimized_plan(
        &self,
        sql: &str,
        stmt: &Stmt,
        plan: &LogicalPlan,
        params: Option<&ParamValues>,
        state: &SessionState,
    ) -> Option<Result<LogicalPlan>> {
        if sql.len() > PlanCache::MAX_TEXT || !plain_query(stmt) {
            return None;
        }
        // A name that now means a view over the same tables (renamed, then
        // a view of the old name) reads the same versions: kept only while
        // every name means a table it reads.
        let tables = managed_tables(plan)?;
        if !self.names_the_same_tables(stmt, &tables) {
            return None;
        }
        let reads = table_versions(&tables)?;
        let hit = self
            .plans
            .optimized
            .get(sql)
            .filter(|hit| hit.reads == reads);
        let entry = match hit {
            Some(hit) => hit,
            None => {
                let optimized = match optimizable(plan) {
                    true => match state.optimize(plan) {
                        Ok(optimized) => Some(optimized),
                        Err(e) => return Some(Err(e.into())),
                    },
                    false => None,
                };
                let types = plan.get_parameter_types().ok()?;
                let entry = Arc::new(Optimized {
                    reads,
                    types,
                    plan: optimized,
                });
                self.plans
                    .optimized
                    .insert(sql.to_string(), Arc::clone(&entry));
                entry
            }
        };
        let optimized = entry.plan.as_ref()?;
        if !values_match(&entry.types, params) {
            return None;
        }
        Some(Ok(optimized.clone()))
    }

    async fn reusable(&self, session: &Session, stmt: &Stmt, plan: &LogicalPlan) -> Result<bool> {
        if !plain_query(stmt) || !self.plans_in_shared_context(session) {
            return Ok(false);
        }
        self.reads_current(stmt, plan).await
    }

    /// Does `session` plan in the shared context (no settings and no
    /// temporary tables of its own), where Parse plans and cached plans
    /// were made?
    pub fn plans_in_shared_context(&self, session: &Session) -> bool {
        session.settings().is_empty() && !session.temp.as_ref().is_some_and(|t| !t.is_empty())
    }

    /// Would a plan of `stmt` be kept by [`Self::keep_plan`]? (A plain
    /// query; whether it reads only managed tables is known once planned.)
    pub fn plan_is_kept(&self, stmt: &Stmt) -> bool {
        plain_query(stmt)
    }

    /// Does `plan` read only managed tables, each the table its name means
    /// now at its latest version, and does every relation `stmt` names
    /// still mean one of them?
    async fn reads_current(&self, stmt: &Stmt, plan: &LogicalPlan) -> Result<bool> {
        let Some(tables) = managed_tables(plan) else {
            return Ok(false);
        };
        if !self.names_the_same_tables(stmt, &tables) {
            return Ok(false);
        }
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

    /// Does every relation `stmt` names mean, in the catalog now, a managed
    /// table whose location is one of `tables`'? A view is inlined into the
    /// plan when it is planned, so a plan over a view shows only the view's
    /// tables: a statement naming a view (or a name that now means another
    /// relation) is planned again.
    fn names_the_same_tables(&self, stmt: &Stmt, tables: &[Arc<dyn TableProvider>]) -> bool {
        let Ok((relations, _ctes)) = resolve_table_references(&stmt.to_df(), true) else {
            return false;
        };
        let locations: Vec<&str> = tables
            .iter()
            .filter_map(|t| t.downcast_ref::<ManagedTable>())
            .filter_map(ManagedTable::location)
            .collect();
        relations.iter().all(|relation| {
            let schema = relation.schema().unwrap_or(DEFAULT_SCHEMA);
            self.catalog
                .get(schema, relation.table())
                .is_some_and(|entry| {
                    entry.kind == Kind::Table
                        && entry
                            .location
                            .as_deref()
                            .is_some_and(|l| locations.contains(&l))
                })
        })
    }

    /// The statement and plan an earlier Parse of `sql` made, when they are
    /// still what parsing and planning it now would give.
    pub async fn cached_plan(&self, sql: &str) -> Result<Option<(Stmt, LogicalPlan)>> {
        let Some(hit) = self.plans.parsed.get(sql) else {
            return Ok(None);
        };
        if self.reads_current(&hit.0, &hit.1).await? {
            return Ok(Some((hit.0.clone(), hit.1.clone())));
        }
        self.plans.parsed.invalidate(sql);
        Ok(None)
    }

    /// Keeps the plan just made of `sql` for its next Parse, when it is a
    /// plain query over managed tables named directly (the only plans
    /// [`Self::cached_plan`] can tell are still valid) and the text is not
    /// huge (a BI tool's literal `IN (…)` list would pin a plan per text).
    pub fn keep_plan(&self, sql: &str, stmt: &Stmt, plan: &LogicalPlan) {
        if sql.len() > PlanCache::MAX_TEXT || !plain_query(stmt) {
            return;
        }
        let Some(tables) = managed_tables(plan) else {
            return;
        };
        if self.names_the_same_tables(stmt, &tables) {
            self.plans
                .parsed
                .insert(sql.to_string(), Arc::new((stmt.clone(), plan.clone())));
        }
    }

    /// [`Engine::plan`] within the statement's timeout (or the default),
    /// as planning inside [`Engine::execute_in`] is.
    pub async fn plan_within(&self, stmt: &Stmt, timeout: Option<Duration>) -> Result<LogicalPlan> {
        let deadline = timeout
            .or(self.default_timeout)
            .map(|t| (tokio::time::Instant::now() + t, t));
        timeout::run(deadline, self.plan(stmt)).await?
    }
}

/// Plain queries' plans by SQL text: as parsed and planned (for the next
/// Parse) and as optimised (for the next execution). Bounded in entries;
/// an entry nobody used for ten minutes goes, and with it the table
/// snapshots it holds.
pub(super) struct PlanCache {
    parsed: Cache<String, Arc<(Stmt, LogicalPlan)>>,
    optimized: Cache<String, Arc<Optimized>>,
}

/// A plan as the optimiser left it, placeholders still in, and what it was
/// made from: the Delta version of each table it reads and its
/// placeholders' types. `plan` is `None` for a plan whose optimised form
/// must not be kept ([`optimizable`]), so it is not examined again.
struct Optimized {
    reads: Vec<(String, i64)>,
    types: HashMap<String, Option<DataType>>,
    plan: Option<LogicalPlan>,
}

impl PlanCache {
    const ENTRIES: u64 = 1_000;
    const MAX_TEXT: usize = 16 * 1024;
    const IDLE: Duration = Duration::from_secs(600);

    pub(super) fn new() -> Self {
        PlanCache {
            parsed: Cache::builder()
                .max_capacity(Self::ENTRIES)
                .time_to_idle(Self::IDLE)
                .build(),
            optimized: Cache::builder()
                .max_capacity(Self::ENTRIES)
                .time_to_idle(Self::IDLE)
                .build(),
        }
    }
}

/// The location and Delta version of each of `tables` (managed tables, in
/// plan order).
fn table_versions(tables: &[Arc<dyn TableProvider>]) -> Option<Vec<(String, i64)>> {
    tables
        .iter()
        .map(|table| {
            let managed = table.downcast_ref::<ManagedTable>()?;
            Some((managed.location()?.to_string(), managed.delta_version()?))
        })
        .collect()
}

/// May `plan`'s optimised form be kept and run again? Every placeholder
/// has a type, and no expression is a function whose value the optimiser
/// would fold to this moment's (anything not immutable) or a variable.
fn optimizable(plan: &LogicalPlan) -> bool {
    let typed = plan
        .get_parameter_types()
        .is_ok_and(|types| types.values().all(Option::is_some));
    if !typed {
        return false;
    }
    let mut fixed = true;
    let walked = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                fixed &= match e {
                    Expr::ScalarFunction(f) => {
                        f.func.signature().volatility == Volatility::Immutable
                    }
                    Expr::ScalarVariable(..) => false,
                    _ => true,
                };
                Ok(if fixed {
                    TreeNodeRecursion::Continue
                } else {
                    TreeNodeRecursion::Stop
                })
            })
        })
    });
    walked.is_ok() && fixed
}

/// Is every value of `params` of its placeholder's type (what the
/// optimised plan was typed for)?
fn values_match(types: &HashMap<String, Option<DataType>>, params: Option<&ParamValues>) -> bool {
    let Some(params) = params else {
        return types.is_empty();
    };
    types.iter().all(|(id, ty)| {
        params
            .get_placeholders_with_values(id)
            .is_ok_and(|value| Some(value.value().data_type()) == *ty)
    })
}

/// A query that only reads: not `SELECT … INTO t` (a CREATE TABLE, whose
/// Parse-time plan is empty) and not a `WITH … INSERT/UPDATE/DELETE/MERGE`.
fn plain_query(stmt: &Stmt) -> bool {
    match stmt.as_pg() {
        Some(PgStatement::Query(query)) => reads_only(&query.body),
        _ => false,
    }
}

fn reads_only(body: &SetExpr) -> bool {
    match body {
        SetExpr::Select(select) => select.into.is_none(),
        SetExpr::Query(query) => reads_only(&query.body),
        SetExpr::SetOperation { left, right, .. } => reads_only(left) && reads_only(right),
        SetExpr::Values(_) | SetExpr::Table(_) => true,
        _ => false,
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
