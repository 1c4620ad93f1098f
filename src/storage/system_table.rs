//! Delta-backed system tables written from serde rows: the helper every
//! layer uses for its `voidx.*` tables (registry, ingest runs, jobs,
//! alerts). Rows are serde structs turned into Arrow through `arrow-json`,
//! so a column is declared once, in the table's schema, and nowhere else.
//!
//! ```no_run
//! # async fn f(c: &std::sync::Arc<voidx::storage::catalog::Catalog>, s: &voidx::storage::system::SystemSchema, schema: arrow::datatypes::SchemaRef) -> voidx::error::Result<()> {
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Row { name: String }
//! let t = voidx::storage::system_table::SystemTable::open(c, s, "example", schema).await?;
//! t.append(&[Row { name: "x".into() }]).await?;
//! let rows: Vec<Row> = t.read().await?;
//! # Ok(()) }
//! ```

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use serde::{Deserialize, Serialize};

use super::catalog::Catalog;
use super::delta;
use super::system::SystemSchema;
use crate::error::{Result, VoidxError};

/// One `voidx.<name>` table stored at `<data>/voidx/<name>`.
#[derive(Debug, Clone)]
pub struct SystemTable {
    catalog: Arc<Catalog>,
    pub name: String,
    pub location: String,
    pub schema: SchemaRef,
    /// Only ever appended to (a log of events), so compacted every
    /// `storage.compact_every` commits (src/storage/compaction.rs).
    append_only: bool,
}

impl SystemTable {
    /// Open (creating it empty on first start) and register it in the `voidx` schema.
    pub async fn open(
        catalog: &Arc<Catalog>,
        system: &SystemSchema,
        name: &str,
        schema: SchemaRef,
    ) -> Result<SystemTable> {
        let location = catalog.data_dir().location(&["voidx", name]);
        catalog
            .data_dir()
            .ensure_table(&location, Arc::clone(&schema))
            .await?;
        system.register_delta(name, &location);
        Ok(SystemTable {
            catalog: Arc::clone(catalog),
            name: name.to_string(),
            location,
            schema,
            append_only: false,
        })
    }

    /// Marks a table that is only appended to, one small commit per event:
    /// it is compacted every `storage.compact_every` commits, so its file
    /// count (and every process' snapshot of it) stays bounded. Tables that
    /// are also overwritten are not marked: a compaction between an
    /// overwrite's read and its commit would make the overwrite conflict.
    pub fn append_only(mut self) -> SystemTable {
        self.append_only = true;
        self
    }

    /// Append rows in one commit.
    pub async fn append<T: Serialize>(&self, rows: &[T]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let batch = to_batch(&self.schema, rows)?;
        let table = delta::append(&self.location, Arc::clone(&self.schema), vec![batch]).await?;
        if self.append_only {
            let name = format!("voidx.{}", self.name);
            self.catalog.compaction().after_commit(&table, &name).await;
        }
        Ok(())
    }

    /// Replace every row in one commit.
    pub async fn overwrite<T: Serialize>(&self, rows: &[T]) -> Result<()> {
        let batch = to_batch(&self.schema, rows)?;
        delta::overwrite(&self.location, Arc::clone(&self.schema), vec![batch]).await?;
        Ok(())
    }

    /// Replaces every row with `change` applied to the rows as committed,
    /// written on top of the version they were read from: when another
    /// server rewrote the table meanwhile, the change is applied again to
    /// its rows (so `change` must decide from the rows it is given). No
    /// commit when `change` returns `false` (nothing to change). Returns
    /// the rows as committed by this change.
    pub async fn update<T, F>(&self, mut change: F) -> Result<Vec<T>>
    where
        T: Serialize + for<'de> Deserialize<'de>,
        F: FnMut(&mut Vec<T>) -> Result<bool>,
    {
        for attempt in 1..=delta::REWRITE_ATTEMPTS {
            let base = self.catalog.delta_table(&self.location).await?;
            let mut rows: Vec<T> = rows_of(&base, "").await?;
            if !change(&mut rows)? {
                return Ok(rows);
            }
            let batch = to_batch(&self.schema, &rows)?;
            match delta::overwrite_on(base, Arc::clone(&self.schema), vec![batch]).await {
                Ok(_) => return Ok(rows),
                Err(e) if e.commit_race().is_some() && attempt < delta::REWRITE_ATTEMPTS => {
                    delta::race_backoff(attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(VoidxError::Internal(format!(
            "the rewrite of voidx.{} kept losing races with other servers",
            self.name
        )))
    }

    /// The table's Delta version now (another server's commits included).
    pub async fn version(&self) -> Result<Option<u64>> {
        Ok(self.catalog.delta_table(&self.location).await?.version())
    }

    /// Every row, optionally filtered/ordered by a SQL tail over table `t`
    /// (`WHERE target = 'x' ORDER BY started_at`).
    pub async fn read_where<T: for<'de> Deserialize<'de>>(&self, tail: &str) -> Result<Vec<T>> {
        let table = self.catalog.delta_table(&self.location).await?;
        rows_of(&table, tail).await
    }

    pub async fn read<T: for<'de> Deserialize<'de>>(&self) -> Result<Vec<T>> {
        self.read_where("").await
    }

    /// Rows of any query over the table as `t` (aggregates, window
    /// functions), e.g. `SELECT job, max(slot) AS slot FROM t GROUP BY job`.
    pub async fn query<T: for<'de> Deserialize<'de>>(&self, sql: &str) -> Result<Vec<T>> {
        let table = self.catalog.delta_table(&self.location).await?;
        let ctx = SessionContext::new();
        ctx.register_table("t", table.table_provider().await?)?;
        let batches = ctx.sql(sql).await?.collect().await?;
        from_batches(&batches)
    }
}

/// The rows of `table`, filtered/ordered by a SQL tail over `t`.
async fn rows_of<T: for<'de> Deserialize<'de>>(table: &DeltaTable, tail: &str) -> Result<Vec<T>> {
    let ctx = SessionContext::new();
    ctx.register_table("t", table.table_provider().await?)?;
    let batches = ctx
        .sql(&format!("SELECT * FROM t {tail}"))
        .await?
        .collect()
        .await?;
    from_batches(&batches)
}

/// The timestamp type of system tables (milliseconds, UTC).
pub fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// Serde rows → one Arrow batch of `schema`.
pub fn to_batch<T: Serialize>(schema: &SchemaRef, rows: &[T]) -> Result<RecordBatch> {
    let mut decoder = arrow_json::ReaderBuilder::new(Arc::clone(schema))
        .build_decoder()
        .map_err(VoidxError::from)?;
    decoder.serialize(rows).map_err(VoidxError::from)?;
    Ok(decoder
        .flush()
        .map_err(VoidxError::from)?
        .unwrap_or_else(|| RecordBatch::new_empty(Arc::clone(schema))))
}

/// Arrow batches → serde rows (timestamps come back as epoch milliseconds).
pub fn from_batches<T: for<'de> Deserialize<'de>>(batches: &[RecordBatch]) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for batch in batches {
        // Timestamps are written by arrow-json as text; cast them to
        // integers first so they read back as the milliseconds we stored.
        let columns = batch
            .columns()
            .iter()
            .map(|c| match c.data_type() {
                DataType::Timestamp(_, _) => {
                    let ms =
                        arrow::compute::cast(c, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
                    arrow::compute::cast(&ms, &DataType::Int64)
                }
                _ => Ok(Arc::clone(c)),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let fields: Vec<Field> = batch
            .schema()
            .fields()
            .iter()
            .zip(&columns)
            .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), true))
            .collect();
        let plain = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        let mut buf = Vec::new();
        {
            let mut writer = arrow_json::ArrayWriter::new(&mut buf);
            writer.write(&plain)?;
            writer.finish()?;
        }
        if buf.is_empty() {
            continue;
        }
        let rows: Vec<T> = serde_json::from_slice(&buf)
            .map_err(|e| VoidxError::Internal(format!("cannot read a registry table: {e}")))?;
        out.extend(rows);
    }
    Ok(out)
}
