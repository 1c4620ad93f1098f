//! `DROP TABLE | VIEW | SCHEMA [IF EXISTS] … [CASCADE]`: one catalog commit
//! removes the targets and (with CASCADE) the views reading them; managed
//! tables lose their files afterwards.

use std::collections::BTreeSet;

use datafusion::sql::sqlparser::ast::{ObjectName, ObjectType};

use super::names::split_name;
use super::view::dependents;
use crate::engine::{CommandTag, Engine};
use crate::error::{Result, VoidxError};
use crate::storage::catalog::{self, Entry, Kind};
use crate::storage::relations::{RESERVED_SCHEMAS, forget_data};

fn wrong_kind(entry: &Entry, object_type: ObjectType) -> VoidxError {
    let right = match entry.kind {
        Kind::View => "DROP VIEW",
        _ => "DROP TABLE",
    };
    VoidxError::WrongObjectType(format!(
        "\"{}\" is a {}, not a {}. Help: {right} {}",
        entry.qualified(),
        entry.kind.as_str(),
        object_type.to_string().to_ascii_lowercase(),
        entry.qualified()
    ))
}

pub(super) async fn drop_objects(
    engine: &Engine,
    object_type: ObjectType,
    names: &[ObjectName],
    if_exists: bool,
    cascade: bool,
) -> Result<CommandTag> {
    let tag = format!("DROP {}", object_type.to_string().to_ascii_uppercase());
    let mut targets: Vec<Entry> = Vec::new();
    let mut schemas: Vec<String> = Vec::new();
    for name in names {
        if object_type == ObjectType::Schema {
            let schema = split_name(engine, name)?.1;
            if RESERVED_SCHEMAS.contains(&schema.as_str()) {
                return Err(VoidxError::ReadOnly(format!(
                    "cannot drop schema {schema}: it is reserved for the system"
                )));
            }
            if !engine.catalog.schema_exists(&schema) {
                if if_exists {
                    continue;
                }
                return Err(VoidxError::UndefinedSchema(format!(
                    "schema \"{schema}\" does not exist"
                )));
            }
            let members: Vec<Entry> = engine
                .catalog
                .objects()
                .into_iter()
                .filter(|e| e.schema == schema)
                .collect();
            if !members.is_empty() && !cascade {
                return Err(VoidxError::DependentObjects(format!(
                    "cannot drop schema {schema} because it holds {} object(s). Help: DROP SCHEMA {schema} CASCADE",
                    members.len()
                )));
            }
            targets.extend(members);
            schemas.push(schema);
            continue;
        }
        let (schema, table) = split_name(engine, name)?;
        match engine.catalog.get(&schema, &table) {
            None if if_exists => continue,
            None => {
                return Err(VoidxError::UndefinedTable(format!(
                    "{} \"{schema}.{table}\" does not exist. Help: SELECT schema, name, kind FROM voidx.tables",
                    object_type.to_string().to_ascii_lowercase()
                )));
            }
            Some(e) => {
                let is_view = e.kind == Kind::View;
                if is_view != (object_type == ObjectType::View) {
                    return Err(wrong_kind(&e, object_type));
                }
                targets.push(e);
            }
        }
    }
    let target_keys: BTreeSet<(String, String)> = targets.iter().map(catalog::key).collect();
    let deps = dependents(engine, &target_keys).await;
    if !deps.is_empty() && !cascade {
        let names: Vec<String> = deps.iter().map(|d| d.qualified()).collect();
        return Err(VoidxError::DependentObjects(format!(
            "cannot drop {} because other objects depend on it: view {}. Help: add CASCADE to drop them too",
            targets
                .iter()
                .map(|t| t.qualified())
                .collect::<Vec<_>>()
                .join(", "),
            names.join(", ")
        )));
    }
    targets.extend(deps);
    if targets.is_empty() && schemas.is_empty() {
        return Ok(CommandTag::new(&tag));
    }
    engine
        .catalog
        .commit_change(|m| {
            for t in &targets {
                m.remove(&catalog::key(t));
            }
            for s in &schemas {
                m.remove(&(s.clone(), String::new()));
            }
            Ok(())
        })
        .await?;
    for t in &targets {
        forget_data(&engine.catalog, &engine.resolver, t).await;
    }
    Ok(CommandTag::new(&tag))
}
