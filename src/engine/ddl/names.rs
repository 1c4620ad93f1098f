//! Relation names in DDL: `[catalog.][schema.]name` as PostgreSQL folds
//! and checks them, and the rule for where a new relation may go.

use datafusion::common::TableReference;
use datafusion::sql::sqlparser::ast::{Ident, ObjectName};

use crate::engine::Engine;
use crate::error::{Result, VoidxError};
use crate::storage::catalog::{DEFAULT_SCHEMA, Entry, Kind};
use crate::storage::relations::{RESERVED_SCHEMAS, relation_exists_error};

pub(super) fn normalize(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_ascii_lowercase(),
    }
}

pub(super) fn object_name_of(r: &TableReference) -> ObjectName {
    let parts: Vec<Ident> = match r {
        TableReference::Bare { table } => vec![Ident::with_quote('"', table.as_ref())],
        TableReference::Partial { schema, table } => {
            vec![
                Ident::with_quote('"', schema.as_ref()),
                Ident::with_quote('"', table.as_ref()),
            ]
        }
        TableReference::Full {
            catalog,
            schema,
            table,
        } => vec![
            Ident::with_quote('"', catalog.as_ref()),
            Ident::with_quote('"', schema.as_ref()),
            Ident::with_quote('"', table.as_ref()),
        ],
    };
    ObjectName::from(parts)
}

/// `[catalog.][schema.]name` → (schema, name), checking the catalog part.
pub(in crate::engine) fn split_name(
    engine: &Engine,
    name: &ObjectName,
) -> Result<(String, String)> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| p.as_ident().map(normalize).unwrap_or_else(|| p.to_string()))
        .collect();
    match parts.as_slice() {
        [table] => Ok((DEFAULT_SCHEMA.to_string(), table.clone())),
        [schema, table] => Ok((schema.clone(), table.clone())),
        [catalog, schema, table] if *catalog == engine.catalog_name => {
            Ok((schema.clone(), table.clone()))
        }
        [catalog, ..] if parts.len() == 3 => Err(VoidxError::Unsupported(format!(
            "cross-database references are not supported: database \"{catalog}\" is not \"{}\"",
            engine.catalog_name
        ))),
        _ => Err(VoidxError::Syntax(format!(
            "improper qualified name (too many dotted names): {name}"
        ))),
    }
}

pub(super) fn split_reference(engine: &Engine, r: &TableReference) -> Result<(String, String)> {
    split_name(engine, &object_name_of(r))
}

/// Where a new relation goes: the schema must exist and not be a system schema.
pub(super) fn target_for_create(engine: &Engine, r: &TableReference) -> Result<(String, String)> {
    let (schema, name) = split_reference(engine, r)?;
    if RESERVED_SCHEMAS.contains(&schema.as_str()) {
        return Err(VoidxError::ReadOnly(format!(
            "cannot create \"{schema}.{name}\": schema {schema} is reserved for the system. Help: CREATE SCHEMA analytics and create it there"
        )));
    }
    if !engine.catalog.schema_exists(&schema) {
        return Err(VoidxError::UndefinedSchema(format!(
            "schema \"{schema}\" does not exist. Help: CREATE SCHEMA {schema}"
        )));
    }
    Ok((schema, name))
}

/// What to do when the name is taken: `Ok(true)` = nothing (IF NOT EXISTS),
/// `Ok(false)` = go on (free, or replacing an object of the same kind).
pub(super) fn check_existing(
    existing: Option<&Entry>,
    kind: Kind,
    if_not_exists: bool,
    or_replace: bool,
) -> Result<bool> {
    match existing {
        None => Ok(false),
        Some(_) if if_not_exists => Ok(true),
        Some(e) if or_replace && e.kind == kind => Ok(false),
        Some(e) => Err(relation_exists_error(e)),
    }
}
