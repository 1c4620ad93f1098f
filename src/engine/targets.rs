//! Who may write into what a statement names, once the names are resolved
//! against the catalog. [`roles`](super::roles) judges the statement's
//! shape; this judges its targets, which the syntax alone cannot tell apart:
//! `INSERT INTO raw.events` is an analyst's ordinary write when `raw.events`
//! is a managed table and a write into files or a remote database when it is
//! an external table (a source).
//!
//! * Below `admin`, no login writes into, drops, renames or replaces a source
//!   (an external table), nor drops a schema that holds one.
//! * No login, `admin` included, writes rows into a system table (`voidx.*`,
//!   `information_schema`, `pg_catalog`): they change only through their
//!   functions (`deploy`, `ingest`, `create_job`, …), which keep their own
//!   invariants (the prediction log, the model registry, run records).
//!
//! ```sql
//! -- as an analyst, with raw.events an external CSV table:
//! INSERT INTO raw.events VALUES (1);            -- 42501
//! DROP SCHEMA raw CASCADE;                       -- 42501
//! -- as anyone:
//! INSERT INTO voidx.predictions SELECT …;        -- 42501
//! ```

use datafusion::common::TableReference;
use datafusion::sql::sqlparser::ast::{ObjectName, ObjectType, Statement};

use super::roles::refuse;
use super::{Engine, Stmt, ddl};
use crate::config::Role;
use crate::error::{Result, VoidxError};
use crate::storage::catalog::{DEFAULT_SCHEMA, Kind};
use crate::storage::relations::RESERVED_SCHEMAS;

fn system_table_write(schema: &str, table: &str) -> VoidxError {
    VoidxError::NotAllowed(format!(
        "no login may write rows into the system table {schema}.{table}. Help: system tables \
         change only through their functions (deploy, ingest, train, create_job, …); \
         docs/security.md lists them"
    ))
}

/// The DML target `table` (as planned): refused when it is a system table,
/// or a source and `role` is below admin.
pub fn check_write(engine: &Engine, role: Role, table: &TableReference) -> Result<()> {
    let (schema, name) = schema_and_name(table);
    if RESERVED_SCHEMAS.contains(&schema.as_str()) {
        return Err(system_table_write(&schema, &name));
    }
    check_not_source(engine, role, &schema, &name, "write into")
}

/// The catalog's (schema, name) of a planned table reference.
pub fn schema_and_name(table: &TableReference) -> (String, String) {
    match table {
        TableReference::Bare { table } => (DEFAULT_SCHEMA.to_string(), table.to_string()),
        TableReference::Partial { schema, table } => (schema.to_string(), table.to_string()),
        TableReference::Full { schema, table, .. } => (schema.to_string(), table.to_string()),
    }
}

fn check_not_source(
    engine: &Engine,
    role: Role,
    schema: &str,
    name: &str,
    verb: &str,
) -> Result<()> {
    if role == Role::Admin {
        return Ok(());
    }
    match engine.catalog.get(schema, name) {
        Some(entry) if entry.kind == Kind::External => Err(refuse(
            role,
            &format!(
                "{verb} the source {} (an external table reads and writes files and hosts)",
                entry.qualified()
            ),
            Role::Admin,
        )),
        _ => Ok(()),
    }
}

/// DDL that names existing objects (DROP, ALTER, CREATE OR REPLACE): refused
/// below admin when one of them is a source or a schema holding one.
pub fn check_ddl(engine: &Engine, role: Role, stmt: &Stmt) -> Result<()> {
    if role == Role::Admin {
        return Ok(());
    }
    let Some(pg) = stmt.as_pg() else {
        return Ok(());
    };
    let named = |name: &ObjectName, verb: &str| -> Result<()> {
        // A name the catalog cannot split is refused later, by the DDL itself.
        match ddl::split_name(engine, name) {
            Ok((schema, table)) => check_not_source(engine, role, &schema, &table, verb),
            Err(_) => Ok(()),
        }
    };
    match pg {
        Statement::Drop {
            object_type: ObjectType::Schema,
            names,
            ..
        } => names
            .iter()
            .try_for_each(|n| check_schema_has_no_source(engine, role, n)),
        Statement::Drop { names, .. } => names.iter().try_for_each(|n| named(n, "drop")),
        Statement::AlterTable(alter) => named(&alter.name, "alter"),
        Statement::Comment {
            object_type,
            object_name,
            ..
        } => named(
            &ddl::commented_relation(object_type, object_name),
            "comment on",
        ),
        Statement::CreateTable(t) if t.or_replace => named(&t.name, "replace"),
        Statement::CreateView(v) if v.or_replace => named(&v.name, "replace"),
        _ => Ok(()),
    }
}

fn check_schema_has_no_source(engine: &Engine, role: Role, name: &ObjectName) -> Result<()> {
    let Ok((_, schema)) = ddl::split_name(engine, name) else {
        return Ok(());
    };
    match engine
        .catalog
        .objects()
        .into_iter()
        .find(|e| e.schema == schema && e.kind == Kind::External)
    {
        Some(source) => Err(refuse(
            role,
            &format!(
                "drop the schema {schema}: it holds the source {} (an external table)",
                source.qualified()
            ),
            Role::Admin,
        )),
        None => Ok(()),
    }
}
