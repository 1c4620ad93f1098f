//! PostgreSQL DML forms DataFusion does not plan, rewritten to the `MERGE`
//! it does (and that [`crate::storage::merge`] runs as one Delta commit):
//!
//! * `UPDATE t SET c = e FROM s WHERE cond` → `MERGE INTO t USING s ON cond WHEN MATCHED THEN UPDATE SET c = e`
//! * `DELETE FROM t USING s WHERE cond` → `MERGE INTO t USING s ON cond WHEN MATCHED THEN DELETE`
//! * `DELETE FROM t WHERE k IN (SELECT …)` → a MERGE on `k` against the subquery's distinct values
//! * `MERGE … WHEN NOT MATCHED THEN INSERT (k) VALUES (k)` → `VALUES (source.k)`, as PostgreSQL reads it
//!
//! dbt's incremental `delete+insert` and its snapshots send exactly these.
//! Any other DELETE or UPDATE whose WHERE holds a subquery is refused: the
//! planner would hand the table only the conditions on its own columns.
//!
//! ```sql
//! DELETE FROM dbt.orders WHERE (id) IN (SELECT (id) FROM orders__dbt_tmp);
//! ```

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Delete, Expr, FromTable, Ident, Merge, MergeAction, MergeInsertKind, Statement, TableFactor,
    TableWithJoins, Update, UpdateTableFromKind, visit_expressions, visit_expressions_mut,
};

use super::Stmt;
use crate::error::{Result, VoidxError};

/// The MERGE that `stmt` means, when it is one of the forms above; an error
/// for a DELETE/UPDATE with a subquery this cannot carry over.
pub fn to_merge(stmt: &Stmt) -> Result<Option<Stmt>> {
    let sql = match stmt.as_pg() {
        Some(Statement::Update(update)) => update_sql(update)?,
        Some(Statement::Delete(delete)) => delete_sql(delete)?,
        Some(Statement::Merge(merge)) => return Ok(source_qualified_inserts(merge)),
        _ => None,
    };
    let Some(sql) = sql else {
        return Ok(None);
    };
    let mut parsed = super::parse::parse(&sql)?;
    match (parsed.pop(), parsed.is_empty()) {
        (Some(merge), true) => Ok(Some(merge)),
        _ => Err(VoidxError::Internal(format!(
            "rewritten DML is not one statement: {sql}"
        ))),
    }
}

fn update_sql(update: &Update) -> Result<Option<String>> {
    let from = match &update.from {
        Some(UpdateTableFromKind::BeforeSet(f) | UpdateTableFromKind::AfterSet(f)) => f,
        None => {
            refuse_subquery(update.selection.as_ref(), "UPDATE")?;
            return Ok(None);
        }
    };
    let [source] = from.as_slice() else {
        return Err(unsupported("UPDATE … FROM with more than one table"));
    };
    let (target, rename) = target(&update.table)?;
    let on = update
        .selection
        .clone()
        .map(|e| rename(e).to_string())
        .unwrap_or_else(|| "true".into());
    let sets: Vec<String> = update
        .assignments
        .iter()
        .map(|a| {
            let mut a = a.clone();
            a.value = rename(a.value);
            a.to_string()
        })
        .collect();
    Ok(Some(format!(
        "MERGE INTO {target} USING {source} ON {on} WHEN MATCHED THEN UPDATE SET {}",
        sets.join(", ")
    )))
}

fn delete_sql(delete: &Delete) -> Result<Option<String>> {
    let tables = match &delete.from {
        FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
    };
    let [table] = tables.as_slice() else {
        return Ok(None);
    };
    if let Some(using) = &delete.using {
        let [source] = using.as_slice() else {
            return Err(unsupported("DELETE … USING with more than one table"));
        };
        let (target, rename) = target(table)?;
        let on = delete
            .selection
            .clone()
            .map(|e| rename(e).to_string())
            .unwrap_or_else(|| "true".into());
        return Ok(Some(format!(
            "MERGE INTO {target} USING {source} ON {on} WHEN MATCHED THEN DELETE"
        )));
    }
    let mut selection = delete.selection.as_ref();
    while let Some(Expr::Nested(inner)) = selection {
        selection = Some(inner);
    }
    match selection {
        Some(Expr::InSubquery {
            expr,
            subquery,
            negated: false,
        }) if !matches!(expr.as_ref(), Expr::Tuple(_)) => Ok(Some(format!(
            "MERGE INTO {} USING (SELECT DISTINCT * FROM ({subquery}) AS voidx_in_q(voidx_in_key)) AS voidx_in \
             ON {} = voidx_in.voidx_in_key WHEN MATCHED THEN DELETE",
            target(table)?.0,
            (target(table)?.1)(expr.as_ref().clone())
        ))),
        other => {
            refuse_subquery(other, "DELETE")?;
            Ok(None)
        }
    }
}

/// `WHEN NOT MATCHED THEN INSERT (a, b) VALUES (a, b)` with the values'
/// bare column names qualified by the source, as PostgreSQL reads them (a
/// row that did not match has no target columns); dbt's `merge` strategy
/// writes exactly this, and DataFusion calls the bare names ambiguous.
fn source_qualified_inserts(merge: &Merge) -> Option<Stmt> {
    let source = match &merge.source {
        TableFactor::Table { alias: Some(a), .. } | TableFactor::Derived { alias: Some(a), .. } => {
            a.name.clone()
        }
        TableFactor::Table { name, .. } => name.0.last()?.as_ident()?.clone(),
        _ => return None,
    };
    let mut merge = merge.clone();
    let mut changed = false;
    for clause in &mut merge.clauses {
        let MergeAction::Insert(insert) = &mut clause.action else {
            continue;
        };
        let MergeInsertKind::Values(values) = &mut insert.kind else {
            continue;
        };
        for row in &mut values.rows {
            for value in row.iter_mut() {
                let _ = visit_expressions_mut(value, |e| {
                    if let Expr::Identifier(column) = e {
                        *e = Expr::CompoundIdentifier(vec![source.clone(), column.clone()]);
                        changed = true;
                    }
                    ControlFlow::<()>::Continue(())
                });
            }
        }
    }
    changed.then(|| Stmt::Pg(Box::new(Statement::Merge(merge))))
}

/// The alias every rewritten MERGE gives an unaliased target.
const TARGET_ALIAS: &str = "voidx_target";

/// Rewrites expressions that name the MERGE target.
type Rename = Box<dyn Fn(Expr) -> Expr>;

/// The MERGE target, always aliased, and the rewrite of expressions that
/// name it in full (`"db"."s"."t".col` → `voidx_target.col`): Delta gets the
/// merge conditions by the alias.
fn target(table: &TableWithJoins) -> Result<(String, Rename)> {
    if !table.joins.is_empty() {
        return Err(unsupported(
            "a joined table as the target of UPDATE or DELETE",
        ));
    }
    let TableFactor::Table { name, alias, .. } = &table.relation else {
        return Err(unsupported("this UPDATE or DELETE target"));
    };
    if alias.is_some() {
        let keep: Rename = Box::new(|e: Expr| e);
        return Ok((table.relation.to_string(), keep));
    }
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident().map(|i| i.value.clone()))
        .collect();
    let rename: Rename = Box::new(move |mut e: Expr| {
        let _ = visit_expressions_mut(&mut e, |e| {
            if let Expr::CompoundIdentifier(ids) = e
                && ids.len() >= 2
            {
                let qualifier: Vec<String> = ids[..ids.len() - 1]
                    .iter()
                    .map(|i| i.value.clone())
                    .collect();
                let names_target = qualifier.len() <= parts.len()
                    && parts[parts.len() - qualifier.len()..] == qualifier[..];
                if names_target && let Some(column) = ids.last().cloned() {
                    *ids = vec![Ident::new(TARGET_ALIAS), column];
                }
            }
            ControlFlow::<()>::Continue(())
        });
        e
    });
    Ok((format!("{name} AS {TARGET_ALIAS}"), rename))
}

fn refuse_subquery(selection: Option<&Expr>, verb: &str) -> Result<()> {
    let Some(selection) = selection else {
        return Ok(());
    };
    let found = visit_expressions(selection, |e| match e {
        Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. } => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    });
    if found.is_break() {
        return Err(unsupported(&format!(
            "{verb} with this subquery in WHERE (only `key IN (SELECT …)` is)"
        )));
    }
    Ok(())
}

fn unsupported(what: &str) -> VoidxError {
    VoidxError::Unsupported(format!(
        "{what} is not supported. Help: write it as MERGE INTO target USING source ON … \
         (docs/sql.md, \"dbt\")"
    ))
}
