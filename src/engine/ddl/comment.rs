//! `COMMENT ON TABLE | VIEW | COLUMN … IS '…' | NULL`: descriptions stored
//! in the catalog entry of the relation (one catalog commit), so they survive
//! restarts, follow `ALTER … RENAME` and go with `DROP`. `pg_description`,
//! `obj_description`, `col_description` and psql's `\d+` read them
//! ([`crate::engine::pg_comments`]); so does `voidx docs data-dictionary`.
//!
//! ```sql
//! COMMENT ON TABLE shop.orders IS 'One order; amounts in USD';
//! COMMENT ON COLUMN shop.orders.status IS 'completed, returned or cancelled';
//! COMMENT ON COLUMN shop.orders.status IS NULL;   -- drops it
//! ```

use datafusion::common::TableReference;
use datafusion::sql::sqlparser::ast::{CommentObject, ObjectName};

use super::names::split_name;
use crate::engine::{CommandTag, Engine};
use crate::error::{Result, VoidxError};
use crate::storage::catalog::{self, Entry, Kind};

/// The relation a `COMMENT ON` names: the whole name, or all but the last
/// part for a column.
pub(in crate::engine) fn commented_relation(
    object_type: &CommentObject,
    name: &ObjectName,
) -> ObjectName {
    match object_type {
        CommentObject::Column if name.0.len() > 1 => {
            ObjectName(name.0[..name.0.len() - 1].to_vec())
        }
        _ => name.clone(),
    }
}

pub(super) async fn comment_on(
    engine: &Engine,
    object_type: &CommentObject,
    name: &ObjectName,
    comment: Option<&str>,
    if_exists: bool,
) -> Result<CommandTag> {
    let tag = CommandTag::new("COMMENT");
    // PostgreSQL treats an empty comment as dropping it.
    let comment = comment.filter(|c| !c.is_empty()).map(str::to_string);
    let relation = commented_relation(object_type, name);
    let column = match object_type {
        CommentObject::Column => {
            let Some(last) = name.0.last().filter(|_| name.0.len() > 1) else {
                return Err(VoidxError::Syntax(format!(
                    "column name \"{name}\" must be qualified. Help: COMMENT ON COLUMN table.column IS '…'"
                )));
            };
            let ident = last
                .as_ident()
                .map(super::names::normalize)
                .unwrap_or_else(|| last.to_string());
            Some(ident)
        }
        CommentObject::Table | CommentObject::View => None,
        other => {
            return Err(VoidxError::Unsupported(format!(
                "COMMENT ON {other} is not supported. Help: VOIDX stores comments on tables, views and columns"
            )));
        }
    };
    let (schema, table) = split_name(engine, &relation)?;
    let Some(entry) = engine.catalog.get(&schema, &table) else {
        if if_exists {
            return Ok(tag);
        }
        return Err(VoidxError::UndefinedTable(format!(
            "relation \"{schema}.{table}\" does not exist. Help: SELECT schema, name, kind FROM voidx.tables"
        )));
    };
    check_kind(&entry, object_type)?;
    if let Some(column) = &column {
        check_column(engine, &entry, column).await?;
    }
    engine
        .catalog
        .commit_change(|m| {
            // Read inside the commit: a concurrent DDL may have replaced it.
            let current = m.get_mut(&catalog::key(&entry)).ok_or_else(|| {
                VoidxError::UndefinedTable(format!(
                    "relation \"{}\" was dropped meanwhile",
                    entry.qualified()
                ))
            })?;
            match (&column, comment.clone()) {
                (None, text) => current.comment = text,
                (Some(c), Some(text)) => {
                    current.column_comments.insert(c.clone(), text);
                }
                (Some(c), None) => {
                    current.column_comments.remove(c);
                }
            }
            Ok(())
        })
        .await?;
    Ok(tag)
}

/// `COMMENT ON TABLE` fits tables and external tables, `COMMENT ON VIEW`
/// views (PostgreSQL refuses the other pairing, 42809).
fn check_kind(entry: &Entry, object_type: &CommentObject) -> Result<()> {
    let fits = match object_type {
        CommentObject::Table => entry.kind != Kind::View,
        CommentObject::View => entry.kind == Kind::View,
        _ => true,
    };
    if fits {
        return Ok(());
    }
    let right = if entry.kind == Kind::View {
        "VIEW"
    } else {
        "TABLE"
    };
    Err(VoidxError::WrongObjectType(format!(
        "\"{}\" is a {}. Help: COMMENT ON {right} {} IS '…'",
        entry.qualified(),
        entry.kind.as_str(),
        entry.qualified()
    )))
}

async fn check_column(engine: &Engine, entry: &Entry, column: &str) -> Result<()> {
    let provider = engine
        .ctx
        .table_provider(TableReference::partial(
            entry.schema.as_str(),
            entry.name.as_str(),
        ))
        .await?;
    if provider.schema().field_with_name(column).is_ok() {
        return Ok(());
    }
    Err(VoidxError::UndefinedColumn(format!(
        "column \"{column}\" of relation \"{}\" does not exist. Help: SELECT column_name FROM information_schema.columns WHERE table_schema = '{}' AND table_name = '{}'",
        entry.qualified(),
        entry.schema,
        entry.name
    )))
}
