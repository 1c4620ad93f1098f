//! PostgreSQL DML forms DataFusion does not plan, rewritten to the `MERGE`
//! it does (and that [`crate::storage::merge`] runs as one Delta commit):
//!
//! * `UPDATE t SET c = e FROM s WHERE cond` → `MERGE INTO t USING s ON cond WHEN MATCHED THEN UPDATE SET c = e`
//! * `DELETE FROM t USING s WHERE cond` → `MERGE INTO t USING s ON cond WHEN MATCHED THEN DELETE`
//! * `DELETE FROM t WHERE k IN (SELECT …)` → a MERGE on `k` against the subquery's distinct values
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
    Delete, Expr, FromTable, Statement, TableWithJoins, Update, UpdateTableFromKind,
    visit_expressions,
};

use super::Stmt;
use crate::error::{Result, VoidxError};

/// The MERGE that `stmt` means, when it is one of the forms above; an error
/// for a DELETE/UPDATE with a subquery this cannot carry over.
pub fn to_merge(stmt: &Stmt) -> Result<Option<Stmt>> {
    let sql = match stmt.as_pg() {
        Some(Statement::Update(update)) => update_sql(update)?,
        Some(Statement::Delete(delete)) => delete_sql(delete)?,
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
    let on = update
        .selection
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_else(|| "true".into());
    let sets: Vec<String> = update.assignments.iter().map(ToString::to_string).collect();
    Ok(Some(format!(
        "MERGE INTO {} USING {} ON {on} WHEN MATCHED THEN UPDATE SET {}",
        target(&update.table)?,
        source,
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
        let on = delete
            .selection
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_else(|| "true".into());
        return Ok(Some(format!(
            "MERGE INTO {} USING {source} ON {on} WHEN MATCHED THEN DELETE",
            target(table)?
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
             ON {expr} = voidx_in.voidx_in_key WHEN MATCHED THEN DELETE",
            target(table)?
        ))),
        other => {
            refuse_subquery(other, "DELETE")?;
            Ok(None)
        }
    }
}

fn target(table: &TableWithJoins) -> Result<String> {
    if !table.joins.is_empty() {
        return Err(unsupported(
            "a joined table as the target of UPDATE or DELETE",
        ));
    }
    Ok(table.relation.to_string())
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
