//! `COMMENT ON SCHEMA | TABLE | VIEW | COLUMN … IS '…' | NULL`: descriptions
//! stored in the catalog entry of the schema or relation (one catalog
//! commit), so they survive restarts, follow `ALTER … RENAME` and go with
//! `DROP`. `pg_description`,
//! `obj_description`, `col_description` and psql's `\d+` read them
//! ([`crate::engine::pg_comments`]); so does `voidx docs data-dictionary`.
//!
//! ```sql
//! COMMENT ON TABLE shop.orders IS 'One order; amounts in USD';
//! COMMENT ON COLUMN shop.orders.status IS 'completed, returned or cancelled';
//! COMMENT ON COLUMN shop.orders.status IS NULL;   -- drops it
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;

use datafusion::common::TableReference;
use datafusion::sql::sqlparser::ast::{CommentObject, ObjectName, Statement as PgStatement};

use super::names::split_name;
use crate::engine::{CommandTag, Engine, Stmt};
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

/// One checked `COMMENT ON`: which catalog entry, which column (none for
/// the schema or relation itself), and the new text (`None` drops it).
struct Change {
    key: (String, String),
    column: Option<String>,
    comment: Option<String>,
}

impl Change {
    /// Apply to the entries being committed; read inside the commit, since
    /// a concurrent DDL may have replaced or dropped the entry.
    fn apply(&self, m: &mut BTreeMap<(String, String), Entry>) -> Result<()> {
        let current = m.get_mut(&self.key).ok_or_else(|| {
            VoidxError::UndefinedTable(format!(
                "\"{}.{}\" was dropped meanwhile",
                self.key.0, self.key.1
            ))
        })?;
        match (&self.column, self.comment.clone()) {
            (None, text) => current.comment = text,
            (Some(c), Some(text)) => {
                current.column_comments.insert(c.clone(), text);
            }
            (Some(c), None) => {
                current.column_comments.remove(c);
            }
        }
        Ok(())
    }
}

pub(super) async fn comment_on(
    engine: &Engine,
    object_type: &CommentObject,
    name: &ObjectName,
    comment: Option<&str>,
    if_exists: bool,
) -> Result<CommandTag> {
    let mut columns = Columns::new();
    if let Some(change) = plan(engine, object_type, name, comment, if_exists, &mut columns).await? {
        engine.catalog.commit_change(|m| change.apply(m)).await?;
    }
    Ok(CommandTag::new("COMMENT"))
}

/// Every `COMMENT ON` of `stmts` in one catalog commit: all of them or, when
/// one fails its check, none. A script of hundreds of comments (the demo's)
/// costs one commit instead of hundreds.
pub(in crate::engine) async fn comment_all(engine: &Engine, stmts: &[Stmt]) -> Result<usize> {
    let mut changes = Vec::new();
    let mut columns = Columns::new();
    for stmt in stmts {
        let Some(PgStatement::Comment {
            object_type,
            object_name,
            comment,
            if_exists,
        }) = stmt.as_pg()
        else {
            return Err(VoidxError::InvalidArgument(format!(
                "only COMMENT ON statements may be batched, not: {stmt}"
            )));
        };
        let planned = plan(
            engine,
            object_type,
            object_name,
            comment.as_deref(),
            *if_exists,
            &mut columns,
        )
        .await?;
        changes.extend(planned);
    }
    engine
        .catalog
        .commit_change(|m| changes.iter().try_for_each(|c| c.apply(m)))
        .await?;
    Ok(changes.len())
}

/// Check a `COMMENT ON` against the catalog; `None` when `IF EXISTS` found
/// nothing to describe.
async fn plan(
    engine: &Engine,
    object_type: &CommentObject,
    name: &ObjectName,
    comment: Option<&str>,
    if_exists: bool,
    columns: &mut Columns,
) -> Result<Option<Change>> {
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
        CommentObject::Schema => return plan_schema(engine, name, comment, if_exists),
        other => {
            return Err(VoidxError::Unsupported(format!(
                "COMMENT ON {other} is not supported. Help: VOIDX stores comments on schemas, tables, views and columns"
            )));
        }
    };
    let (schema, table) = split_name(engine, &relation)?;
    let Some(entry) = engine.catalog.get(&schema, &table) else {
        if if_exists {
            return Ok(None);
        }
        return Err(VoidxError::UndefinedTable(format!(
            "relation \"{schema}.{table}\" does not exist. Help: SELECT schema, name, kind FROM voidx.tables"
        )));
    };
    check_kind(&entry, object_type)?;
    if let Some(column) = &column {
        check_column(engine, &entry, column, columns).await?;
    }
    Ok(Some(Change {
        key: catalog::key(&entry),
        column,
        comment,
    }))
}

/// `COMMENT ON SCHEMA s`: stored on the schema's catalog entry; shown by
/// the data dictionary and `voidx.catalog` (not in `pg_description`).
fn plan_schema(
    engine: &Engine,
    name: &ObjectName,
    comment: Option<String>,
    if_exists: bool,
) -> Result<Option<Change>> {
    let [part] = name.0.as_slice() else {
        return Err(VoidxError::Syntax(format!(
            "schema name \"{name}\" must be one identifier. Help: COMMENT ON SCHEMA shop IS '…'"
        )));
    };
    let schema = part
        .as_ident()
        .map(super::names::normalize)
        .unwrap_or_else(|| part.to_string());
    if !engine.catalog.schema_exists(&schema) {
        if if_exists {
            return Ok(None);
        }
        return Err(VoidxError::UndefinedSchema(format!(
            "schema \"{schema}\" does not exist. Help: SELECT DISTINCT schema FROM voidx.catalog"
        )));
    }
    Ok(Some(Change {
        key: (schema, String::new()),
        column: None,
        comment,
    }))
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

/// Relation schemas already looked up by this batch: a view is planned
/// once, not once per commented column.
type Columns = HashMap<(String, String), SchemaRef>;

async fn check_column(
    engine: &Engine,
    entry: &Entry,
    column: &str,
    columns: &mut Columns,
) -> Result<()> {
    let key = catalog::key(entry);
    let schema = match columns.get(&key) {
        Some(schema) => Arc::clone(schema),
        None => {
            let provider = engine
                .ctx
                .table_provider(TableReference::partial(
                    entry.schema.as_str(),
                    entry.name.as_str(),
                ))
                .await?;
            columns.insert(key, provider.schema());
            provider.schema()
        }
    };
    if schema.field_with_name(column).is_ok() {
        return Ok(());
    }
    Err(VoidxError::UndefinedColumn(format!(
        "column \"{column}\" of relation \"{}\" does not exist. Help: SELECT column_name FROM information_schema.columns WHERE table_schema = '{}' AND table_name = '{}'",
        entry.qualified(),
        entry.schema,
        entry.name
    )))
}

#[cfg(test)]
mod tests {
    /// A batch is one catalog commit when every statement checks out, and
    /// no commit at all when one does not.
    #[tokio::test]
    async fn a_batch_of_comments_is_one_commit_or_none() {
        let (_dir, app) = crate::cli::scratch_app().await.unwrap();
        let engine = &app.engine;
        engine
            .execute_sql("CREATE TABLE t (a BIGINT, b VARCHAR)")
            .await
            .unwrap();
        let version = || async {
            let location = engine.catalog.catalog_location();
            engine
                .catalog
                .delta_table(&location)
                .await
                .unwrap()
                .version()
        };
        let before = version().await;
        let refused = engine
            .execute_comments("COMMENT ON TABLE t IS 'x'; COMMENT ON COLUMN t.nope IS 'y'")
            .await;
        assert!(refused.is_err());
        assert!(
            engine
                .execute_comments("COMMENT ON TABLE t IS 'x'; SELECT 1")
                .await
                .is_err()
        );
        assert_eq!(version().await, before);
        assert_eq!(engine.catalog.get("public", "t").unwrap().comment, None);

        let applied = engine
            .execute_comments(
                "COMMENT ON TABLE t IS 'rows'; COMMENT ON COLUMN t.a IS 'key'; \
                 COMMENT ON SCHEMA public IS 'the default schema'",
            )
            .await
            .unwrap();
        assert_eq!(applied, 3);
        assert_eq!(version().await, before.map(|v| v + 1));
        let t = engine.catalog.get("public", "t").unwrap();
        assert_eq!(t.comment.as_deref(), Some("rows"));
        assert_eq!(t.column_comments.get("a").map(String::as_str), Some("key"));
        assert_eq!(
            engine.catalog.schema_comment("public").as_deref(),
            Some("the default schema")
        );
    }
}
