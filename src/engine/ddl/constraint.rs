//! `ALTER TABLE … ADD | DROP CONSTRAINT`: Delta CHECK constraints, which the
//! writer and `ingest` (quarantine) enforce.

use datafusion::sql::sqlparser::ast::{Ident, ObjectName};

use super::names::{normalize, split_name};
use crate::engine::{CommandTag, Engine};
use crate::error::{Result, VoidxError};
use crate::storage::catalog::{Entry, Kind};

/// The managed table `name` refers to, open at its latest version.
async fn managed_delta(
    engine: &Engine,
    name: &ObjectName,
) -> Result<Option<(Entry, deltalake::DeltaTable)>> {
    let (schema, table) = split_name(engine, name)?;
    let Some(entry) = engine.catalog.get(&schema, &table) else {
        return Ok(None);
    };
    if entry.kind != Kind::Table {
        return Err(VoidxError::WrongObjectType(format!(
            "{} is a {}; constraints belong to tables",
            entry.qualified(),
            entry.kind.as_str()
        )));
    }
    let delta = engine
        .catalog
        .delta_table(entry.location.as_deref().unwrap_or_default())
        .await?;
    Ok(Some((entry, delta)))
}

/// `ALTER TABLE t ADD CONSTRAINT name CHECK (expr)`: a Delta CHECK
/// constraint. Existing rows are checked first; the writer (and `ingest`,
/// which quarantines failing rows) enforces it from then on.
pub(super) async fn add_constraint(
    engine: &Engine,
    table: &ObjectName,
    constraint: &datafusion::sql::sqlparser::ast::TableConstraint,
    if_exists: bool,
) -> Result<CommandTag> {
    use datafusion::sql::sqlparser::ast::TableConstraint;
    let TableConstraint::Check(check) = constraint else {
        return Err(VoidxError::Unsupported(format!(
            "ALTER TABLE … ADD {constraint} is not supported. Help: Delta tables take CHECK constraints: \
             ALTER TABLE t ADD CONSTRAINT amount_ok CHECK (amount >= 0)"
        )));
    };
    let Some(name) = &check.name else {
        return Err(VoidxError::InvalidArgument(
            "a CHECK constraint needs a name. Help: ALTER TABLE t ADD CONSTRAINT amount_ok CHECK (amount >= 0)".into(),
        ));
    };
    let Some((entry, delta)) = managed_delta(engine, table).await? else {
        if if_exists {
            return Ok(CommandTag::new("ALTER TABLE"));
        }
        return Err(VoidxError::UndefinedTable(format!(
            "relation \"{table}\" does not exist"
        )));
    };
    let expr = check.expr.to_string();
    let name = normalize(name);
    delta
        .add_constraint()
        .with_constraint(name.clone(), expr.clone())
        .await
        .map_err(|e| {
            let message = e.to_string();
            if message.contains("violate")
                || message.contains("Invariant")
                || message.contains("Check")
                || message.contains("failed validation")
            {
                VoidxError::CheckViolation(format!(
                    "existing rows of {} violate CHECK ({expr}): {message}. Help: fix or delete them first",
                    entry.qualified()
                ))
            } else if message.contains("already exists") {
                VoidxError::DuplicateTable(format!(
                    "constraint \"{name}\" already exists on {}",
                    entry.qualified()
                ))
            } else {
                VoidxError::InvalidArgument(format!(
                    "cannot add constraint {name} to {}: {message}",
                    entry.qualified()
                ))
            }
        })?;
    Ok(CommandTag::new("ALTER TABLE"))
}

pub(super) async fn drop_constraint(
    engine: &Engine,
    table: &ObjectName,
    name: &Ident,
    if_exists: bool,
) -> Result<CommandTag> {
    let Some((entry, delta)) = managed_delta(engine, table).await? else {
        return Err(VoidxError::UndefinedTable(format!(
            "relation \"{table}\" does not exist"
        )));
    };
    let name = normalize(name);
    delta
        .drop_constraints()
        .with_constraint(name.clone())
        .with_raise_if_not_exists(!if_exists)
        .await
        .map_err(|e| {
            VoidxError::UndefinedObject(format!(
                "constraint \"{name}\" of {} does not exist ({e})",
                entry.qualified()
            ))
        })?;
    Ok(CommandTag::new("ALTER TABLE"))
}
