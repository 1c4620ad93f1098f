//! The `voidx` schema: system tables.
//!
//! * `voidx.catalog` — the catalog's entries (read-only), with secrets in
//!   external tables' OPTIONS and URLs shown as `***`. The Delta table
//!   behind it (`<data_dir>/voidx/catalog`) keeps them, so sources still
//!   work after a restart; it is readable only by whoever can read the data
//!   directory (the operator; SQL logins below admin cannot name files).
//! * `voidx.tables` — one row per relation with its Delta version, rows and
//!   bytes, computed from the Delta logs when queried. It is deliberately not
//!   a stored copy: a copy would lag every commit, and each table's own log is
//!   already readable by any Delta reader. See docs/architecture.md.
//!
//! Later layers add their Delta-backed tables (models, runs, predictions …)
//! with [`SystemSchema::register_delta`].

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use arrow::array::{
    ArrayRef, Int64Builder, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::error::Result;
use futures::FutureExt;

use super::catalog::{Catalog, Entry, Kind};
use super::delta;
use super::lazy::LazyTable;
use super::managed_table::ManagedTable;
use crate::error::VoidxError;

#[derive(Debug)]
pub struct SystemSchema {
    catalog: Arc<Catalog>,
    /// name → Delta location of system tables other layers own.
    delta_tables: RwLock<BTreeMap<String, String>>,
}

impl SystemSchema {
    pub fn new(catalog: Arc<Catalog>) -> Arc<SystemSchema> {
        let system = SystemSchema {
            delta_tables: RwLock::new(BTreeMap::new()),
            catalog,
        };
        system.register_delta("catalog", &system.catalog.catalog_location());
        Arc::new(system)
    }

    pub fn register_delta(&self, name: &str, location: &str) {
        self.delta_tables
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), location.to_string());
    }

    fn delta_location(&self, name: &str) -> Option<String> {
        self.delta_tables
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }
}

#[async_trait]
impl SchemaProvider for SystemSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .delta_tables
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        names.push("tables".to_string());
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if name == "catalog" {
            let catalog = Arc::clone(&self.catalog);
            let produce = Arc::new(move || {
                let catalog = Arc::clone(&catalog);
                async move { Ok(vec![catalog.readable_batch(redact_entry)?]) }.boxed()
            });
            let schema = self.catalog.readable_batch(redact_entry)?.schema();
            return LazyTable::try_new(schema, produce).map(Some);
        }
        if name == "tables" {
            let catalog = Arc::clone(&self.catalog);
            let produce = Arc::new(move || {
                let catalog = Arc::clone(&catalog);
                async move { Ok(vec![tables_batch(&catalog).await?]) }.boxed()
            });
            return LazyTable::try_new(tables_schema(), produce).map(Some);
        }
        match self.delta_location(name) {
            Some(location) => {
                let table = self.catalog.delta_table(&location).await?;
                Ok(Some(Arc::new(
                    ManagedTable::try_new(format!("voidx.{name}"), table, true).await?,
                )))
            }
            None => Ok(None),
        }
    }

    fn register_table(
        &self,
        name: String,
        _table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        Err(VoidxError::ReadOnly(format!(
            "cannot create voidx.{name}: the voidx schema holds system tables only. Help: use another schema, e.g. CREATE SCHEMA analytics"
        ))
        .into())
    }

    fn table_exist(&self, name: &str) -> bool {
        name == "tables" || self.delta_location(name).is_some()
    }
}

/// An entry as SQL users see it: no secret values.
fn redact_entry(mut entry: Entry) -> Entry {
    use crate::ingest::sources::secrets::{redact_definition, redact_url};
    entry.definition = entry.definition.as_deref().map(redact_definition);
    entry.location = entry.location.as_deref().map(redact_url);
    entry
}

fn tables_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("schema", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("location", DataType::Utf8, true),
        Field::new("version", DataType::Int64, true),
        Field::new("rows", DataType::Int64, true),
        Field::new("bytes", DataType::Int64, true),
        Field::new(
            "created_at",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
    ]))
}

async fn tables_batch(catalog: &Catalog) -> Result<RecordBatch> {
    let mut schema = StringBuilder::new();
    let mut name = StringBuilder::new();
    let mut kind = StringBuilder::new();
    let mut location = StringBuilder::new();
    let mut version = Int64Builder::new();
    let mut rows = Int64Builder::new();
    let mut bytes = Int64Builder::new();
    let mut created = TimestampMillisecondBuilder::new().with_timezone("UTC");
    for entry in catalog.objects() {
        let (v, r, b) = delta_figures(catalog, &entry).await;
        schema.append_value(&entry.schema);
        name.append_value(&entry.name);
        kind.append_value(entry.kind.as_str());
        location.append_option(
            entry
                .location
                .as_deref()
                .map(crate::ingest::sources::secrets::redact_url),
        );
        version.append_option(v);
        rows.append_option(r);
        bytes.append_option(b);
        created.append_value(entry.created_at_ms);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(schema.finish()),
        Arc::new(name.finish()),
        Arc::new(kind.finish()),
        Arc::new(location.finish()),
        Arc::new(version.finish()),
        Arc::new(rows.finish()),
        Arc::new(bytes.finish()),
        Arc::new(created.finish()),
    ];
    Ok(RecordBatch::try_new(tables_schema(), columns)?)
}

/// Version, rows and bytes of a Delta-backed entry; NULLs for views, other
/// external formats, or a table whose storage cannot be read right now (the
/// listing must not fail because one table is damaged).
async fn delta_figures(
    catalog: &Catalog,
    entry: &Entry,
) -> (Option<i64>, Option<i64>, Option<i64>) {
    if !entry.is_delta() || entry.kind == Kind::View {
        return (None, None, None);
    }
    let Some(location) = entry.location.as_deref() else {
        return (None, None, None);
    };
    match catalog.delta_table(location).await {
        Ok(table) => {
            let (rows, bytes) = delta::stats(&table)
                .map(|(r, b)| (Some(r), Some(b)))
                .unwrap_or((None, None));
            (table.version().map(|v| v as i64), rows, bytes)
        }
        Err(e) => {
            tracing::warn!("cannot read {}: {e}", entry.qualified());
            (None, None, None)
        }
    }
}
