//! DDL against the persistent catalog: `CREATE SCHEMA|TABLE|VIEW|EXTERNAL
//! TABLE`, `DROP … [CASCADE]`, `ALTER TABLE|VIEW … RENAME TO`,
//! `COMMENT ON SCHEMA|TABLE|VIEW|COLUMN`.
//!
//! One file per statement kind; names are folded and checked in [`names`],
//! and the steps DDL shares with `ingest` live in
//! [`crate::storage::relations`].
//!
//! Each statement is one catalog commit. Data is written before the commit
//! that makes it visible, so a crash leaves an invisible orphan directory at
//! worst, never a visible half-written table.
//!
//! Views are late-bound: they are stored as SQL and resolved by name at query
//! time (like Redshift's `WITH NO SCHEMA BINDING`), so renaming a table does
//! not break or silently redirect them until a table of that name reappears.
//! `DROP` still refuses to remove a relation a view reads unless `CASCADE`.

mod comment;
mod constraint;
mod drop;
mod external;
mod names;
mod rename;
mod schema;
mod table;
mod view;

use std::sync::Arc;

use datafusion::common::DFSchema;
use datafusion::logical_expr::{DdlStatement, EmptyRelation, LogicalPlan};
use datafusion::sql::sqlparser::ast::{
    AlterTableOperation, CommentObject, Ident, ObjectName, ObjectType, RenameTableNameKind,
    Statement as PgStatement,
};

use super::timeout::Deadline;
use super::{CommandTag, Engine, Stmt};
use crate::error::{Result, VoidxError};
pub(in crate::engine) use comment::comment_all;
use comment::comment_on;
pub(in crate::engine) use comment::commented_relation;
use constraint::{add_constraint, drop_constraint};
use drop::drop_objects;
use external::create_external;
use names::object_name_of;
pub(in crate::engine) use names::split_name;
use rename::rename;
use schema::create_schema;
use table::create_table;
use view::create_view;

pub fn empty_plan() -> LogicalPlan {
    LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: false,
        schema: Arc::new(DFSchema::empty()),
    })
}

/// Statements handled on the syntax tree because DataFusion has no plan for them.
pub fn is_catalog_statement(stmt: &Stmt) -> bool {
    match stmt.as_pg() {
        Some(PgStatement::Drop { object_type, .. }) => {
            matches!(
                object_type,
                ObjectType::Table | ObjectType::View | ObjectType::Schema
            )
        }
        Some(PgStatement::Comment { object_type, .. }) => matches!(
            object_type,
            CommentObject::Schema
                | CommentObject::Table
                | CommentObject::View
                | CommentObject::Column
        ),
        Some(PgStatement::AlterTable(alter)) => {
            alter.operations.len() == 1
                && matches!(
                    alter.operations[0],
                    AlterTableOperation::RenameTable { .. }
                        | AlterTableOperation::AddConstraint { .. }
                        | AlterTableOperation::DropConstraint { .. }
                )
        }
        _ => false,
    }
}

pub async fn execute_catalog_statement(engine: &Engine, stmt: &Stmt) -> Result<Option<CommandTag>> {
    if !is_catalog_statement(stmt) {
        return Ok(None);
    }
    match stmt.as_pg() {
        Some(PgStatement::Drop {
            object_type,
            if_exists,
            names,
            cascade,
            ..
        }) => drop_objects(engine, *object_type, names, *if_exists, *cascade)
            .await
            .map(Some),
        Some(PgStatement::Comment {
            object_type,
            object_name,
            comment,
            if_exists,
        }) => comment_on(
            engine,
            object_type,
            object_name,
            comment.as_deref(),
            *if_exists,
        )
        .await
        .map(Some),
        Some(PgStatement::AlterTable(alter)) => {
            match &alter.operations[0] {
                AlterTableOperation::AddConstraint { constraint, .. } => {
                    return add_constraint(engine, &alter.name, constraint, alter.if_exists)
                        .await
                        .map(Some);
                }
                AlterTableOperation::DropConstraint {
                    name, if_exists, ..
                } => {
                    return drop_constraint(engine, &alter.name, name, *if_exists)
                        .await
                        .map(Some);
                }
                _ => {}
            }
            let AlterTableOperation::RenameTable { table_name } = &alter.operations[0] else {
                return Ok(None);
            };
            let new_name = match table_name {
                RenameTableNameKind::To(n) | RenameTableNameKind::As(n) => n,
            };
            rename(engine, &alter.name, new_name, alter.if_exists)
                .await
                .map(Some)
        }
        _ => Ok(None),
    }
}

pub async fn execute_ddl(
    engine: &Engine,
    ddl: DdlStatement,
    deadline: Deadline,
) -> Result<CommandTag> {
    match ddl {
        DdlStatement::CreateCatalogSchema(cmd) => {
            create_schema(engine, &cmd.schema_name, cmd.if_not_exists).await
        }
        DdlStatement::CreateMemoryTable(cmd) => create_table(engine, cmd, deadline).await,
        DdlStatement::CreateView(cmd) => create_view(engine, cmd).await,
        DdlStatement::CreateExternalTable(cmd) => create_external(engine, *cmd).await,
        DdlStatement::DropTable(cmd) => {
            let name = object_name_of(&cmd.name);
            drop_objects(engine, ObjectType::Table, &[name], cmd.if_exists, false).await
        }
        DdlStatement::DropView(cmd) => {
            let name = object_name_of(&cmd.name);
            drop_objects(engine, ObjectType::View, &[name], cmd.if_exists, false).await
        }
        DdlStatement::DropCatalogSchema(cmd) => {
            let name = ObjectName::from(vec![Ident::with_quote('"', cmd.name.schema_name())]);
            drop_objects(
                engine,
                ObjectType::Schema,
                &[name],
                cmd.if_exists,
                cmd.cascade,
            )
            .await
        }
        other => Err(VoidxError::Unsupported(format!(
            "{} is not supported. Help: see docs/sql-reference.md for the statements VOIDX runs",
            other.name()
        ))),
    }
}
