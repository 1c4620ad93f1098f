//! Creating and forgetting relations in the persistent catalog: the steps
//! DDL, `ingest` and `voidx demo` share, below the engine so that each can
//! call them with just the catalog and the resolver.
//!
//! Data is written before the catalog commit that makes it visible, so a
//! crash leaves an invisible orphan directory at worst, never a visible
//! half-written table.
//!
//! ```no_run
//! # async fn f(c: &voidx::storage::catalog::Catalog, r: &voidx::storage::provider::Resolver,
//! #            s: arrow::datatypes::SchemaRef) -> voidx::error::Result<()> {
//! voidx::storage::relations::ensure_schema(c, "raw").await?;
//! voidx::storage::relations::store_table(c, r, "raw", "orders", s, vec![], true).await?;
//! # Ok(()) }
//! ```

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::catalog::{self, Catalog, Entry, Kind, SYSTEM_SCHEMA, now_ms};
use super::delta;
use super::provider::Resolver;
use crate::error::{Result, VoidxError};

/// Schemas no statement may create or write into directly.
pub const RESERVED_SCHEMAS: &[&str] = &[SYSTEM_SCHEMA, "pg_catalog", "information_schema"];

pub fn relation_exists_error(entry: &Entry) -> VoidxError {
    VoidxError::DuplicateTable(format!(
        "relation \"{}\" already exists (a {}). Help: use CREATE OR REPLACE, IF NOT EXISTS, or another name",
        entry.qualified(),
        entry.kind.as_str()
    ))
}

/// Creates `schema` (an unqualified, unquoted name); `Ok(false)` when it
/// already existed and `if_not_exists` was given.
pub async fn create_schema(catalog: &Catalog, schema: &str, if_not_exists: bool) -> Result<bool> {
    if RESERVED_SCHEMAS.contains(&schema) {
        return Err(VoidxError::DuplicateSchema(format!(
            "schema \"{schema}\" is reserved for the system"
        )));
    }
    if catalog.schema_exists(schema) {
        return if if_not_exists {
            Ok(false)
        } else {
            Err(VoidxError::DuplicateSchema(format!(
                "schema \"{schema}\" already exists. Help: CREATE SCHEMA IF NOT EXISTS {schema}"
            )))
        };
    }
    // Again on the latest catalog: another server may have created it.
    let mut created = false;
    catalog
        .commit_change(|m| {
            let e = catalog::schema_entry(schema);
            created = !m.contains_key(&catalog::key(&e));
            if !created && !if_not_exists {
                return Err(VoidxError::DuplicateSchema(format!(
                    "schema \"{schema}\" already exists. Help: CREATE SCHEMA IF NOT EXISTS {schema}"
                )));
            }
            m.entry(catalog::key(&e)).or_insert(e);
            Ok(())
        })
        .await?;
    Ok(created)
}

/// Creates `schema` unless it exists.
pub async fn ensure_schema(catalog: &Catalog, schema: &str) -> Result<()> {
    create_schema(catalog, schema, true).await.map(|_| ())
}

/// Creates (or, with `or_replace`, replaces) the managed table
/// `schema.name` holding `batches`: one Delta create, then one catalog commit.
pub async fn store_table(
    catalog: &Catalog,
    resolver: &Resolver,
    schema: &str,
    name: &str,
    arrow_schema: SchemaRef,
    batches: Vec<RecordBatch>,
    or_replace: bool,
) -> Result<()> {
    let location = catalog.new_table_location(schema, name);
    let entry = Entry {
        schema: schema.to_string(),
        name: name.to_string(),
        kind: Kind::Table,
        location: Some(location.clone()),
        definition: None,
        format: None,
        created_at_ms: now_ms(),
        comment: None,
        column_comments: Default::default(),
    };
    // The entry this commit displaced (OR REPLACE): read inside the commit,
    // so it is the one actually replaced even under concurrent DDL.
    let mut replaced = None;
    let committed = async {
        delta::create_with(&location, arrow_schema, batches).await?;
        crate::failpoint::hit("ctas.before_catalog_commit")?;
        catalog
            .commit_change(|m| match m.get(&catalog::key(&entry)) {
                Some(current) if !or_replace || current.kind != Kind::Table => {
                    Err(relation_exists_error(current))
                }
                _ => {
                    replaced = m.insert(catalog::key(&entry), entry.clone());
                    Ok(())
                }
            })
            .await
    }
    .await;
    if committed.is_err() {
        catalog.data_dir().remove_table(&location).await;
    }
    committed?;
    if let Some(old) = replaced {
        forget_data(catalog, resolver, &old).await;
    }
    Ok(())
}

/// Drops what the process holds for a relation that left the catalog, and
/// a managed table's files.
pub async fn forget_data(catalog: &Catalog, resolver: &Resolver, entry: &Entry) {
    resolver.forget_external(entry);
    if let Some(location) = entry.location.as_deref() {
        catalog.forget_table(location);
        if entry.kind == Kind::Table {
            catalog.data_dir().remove_table(location).await;
        }
    }
}
