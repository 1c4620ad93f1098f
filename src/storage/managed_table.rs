//! A managed table as DataFusion sees it: the Delta provider for reads and
//! `INSERT` (one statement = one Delta commit), plus `DELETE` and `UPDATE`,
//! which Delta's provider does not offer, mapped to Delta's own operations;
//! `TRUNCATE` is a delete-all commit (time travel still reads the rows) and
//! `MERGE` is Delta's merge ([`super::merge`]).

use std::sync::Arc;

use arrow::array::{RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::DFSchemaRef;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::dml::{InsertOp, MergeIntoClause};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use deltalake::DeltaTable;

use super::delta;
use super::table_memory::TableMemory;
use crate::error::VoidxError;

#[derive(Debug)]
pub struct ManagedTable {
    name: String,
    table: DeltaTable,
    inner: Arc<dyn TableProvider>,
    /// Time-travel snapshots and system tables refuse writes.
    read_only: bool,
    /// Set when the table is small enough to be read from memory: scans
    /// then filter decoded rows of this version instead of opening files.
    memory: Option<Arc<TableMemory>>,
    /// The catalog location this provider was looked up at, when it reads
    /// the table's current version (not a past one).
    location: Option<String>,
}

impl ManagedTable {
    pub async fn try_new(name: String, table: DeltaTable, read_only: bool) -> Result<Self> {
        let inner = table
            .table_provider()
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(ManagedTable {
            name,
            table,
            inner,
            read_only,
            memory: None,
            location: None,
        })
    }

    /// Marks this provider as the current version of the table at
    /// `location`, so [`ManagedTable::is_current`] can tell when it is not.
    pub fn looked_up_at(mut self, location: &str) -> Self {
        self.location = Some(location.to_string());
        self
    }

    /// Does this provider still read what its name means now: the same
    /// table (not dropped and re-created, renamed or replaced) at its latest
    /// version? `false` for a past version or after any commit since.
    pub async fn is_current(
        &self,
        catalog: &super::catalog::Catalog,
    ) -> crate::error::Result<bool> {
        let Some(location) = &self.location else {
            return Ok(false);
        };
        let (schema, name) = self.name.split_once('.').unwrap_or(("", &self.name));
        let same_table = catalog
            .get(schema, name)
            .is_some_and(|e| e.location.as_deref() == Some(location.as_str()));
        if !same_table {
            return Ok(false);
        }
        let latest = catalog.delta_table(location).await?;
        Ok(latest.version() == self.table.version())
    }

    /// Reads come from `memory` when this version's files are small enough
    /// for it ([`TableMemory::holds`]).
    pub fn held_in(mut self, memory: &Arc<TableMemory>) -> Self {
        let small = delta::stats(&self.table).is_ok_and(|(_, bytes)| memory.holds(bytes));
        if small && self.table.version().is_some() {
            self.memory = Some(Arc::clone(memory));
        }
        self
    }

    /// This version's rows, decoded once per process; `None` when the Delta
    /// scan's batches do not have the provider's schema (then the scan goes
    /// to the files as usual).
    async fn rows(
        &self,
        memory: &TableMemory,
        state: &dyn Session,
    ) -> Result<Option<Arc<Vec<RecordBatch>>>> {
        let key = self.table.table_url().to_string();
        let version = self.delta_version().unwrap_or(-1);
        if let Some(rows) = memory.get(&key, version) {
            return Ok(Some(rows));
        }
        let plan = self.inner.scan(state, None, &[], None).await?;
        let batches = datafusion::physical_plan::collect(plan, state.task_ctx()).await?;
        let schema = self.inner.schema();
        if batches
            .iter()
            .any(|b| b.schema().fields() != schema.fields())
        {
            return Ok(None);
        }
        let rows = Arc::new(batches);
        memory.put(&key, version, Arc::clone(&rows));
        Ok(Some(rows))
    }

    fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(VoidxError::ReadOnly(format!(
                "{} is read-only (a past version or a system table). Help: write to the current table instead",
                self.name
            ))
            .into());
        }
        Ok(())
    }
}

fn count_plan(count: u64) -> Result<Arc<dyn ExecutionPlan>> {
    let schema: SchemaRef = Arc::new(Schema::new(vec![Field::new(
        "count",
        DataType::UInt64,
        false,
    )]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![Arc::new(UInt64Array::from(vec![count]))],
    )?;
    Ok(MemorySourceConfig::try_new_exec(
        &[vec![batch]],
        schema,
        None,
    )?)
}

/// Delta evaluates predicates against its own unqualified schema.
fn unqualify(expr: Expr) -> Result<Expr> {
    Ok(expr
        .transform(|e| {
            Ok(match e {
                Expr::Column(c) if c.relation.is_some() => Transformed::yes(Expr::Column(
                    datafusion::common::Column::new_unqualified(c.name),
                )),
                other => Transformed::no(other),
            })
        })?
        .data)
}

fn delta_err(e: deltalake::DeltaTableError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

impl ManagedTable {
    /// The Delta version this provider reads.
    pub fn delta_version(&self) -> Option<i64> {
        self.table.version().map(|v| v as i64)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The catalog location this provider was looked up at; `None` for a
    /// past version or a system table.
    pub fn location(&self) -> Option<&str> {
        self.location.as_deref()
    }
}

#[async_trait]
impl TableProvider for ManagedTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if let Some(memory) = &self.memory
            && let Some(rows) = self.rows(memory, state).await?
        {
            // Filters were declared inexact below: DataFusion applies them above this scan.
            let source = MemorySourceConfig::try_new(
                &[rows.as_ref().clone()],
                self.inner.schema(),
                projection.cloned(),
            )?
            .with_limit(limit);
            return Ok(DataSourceExec::from_data_source(source));
        }
        self.inner.scan(state, projection, filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        if self.memory.is_some() {
            // Kept above the scan, so the in-memory rows and a fallback to
            // the files give the same answer.
            return Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()]);
        }
        self.inner.supports_filters_pushdown(filters)
    }

    async fn insert_into(
        &self,
        state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.check_writable()?;
        self.inner.insert_into(state, input, insert_op).await
    }

    async fn delete_from(
        &self,
        _state: &dyn Session,
        filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.check_writable()?;
        let before = delta::stats(&self.table).map(|s| s.0).unwrap_or(0);
        let mut builder = self.table.clone().delete();
        if let Some(predicate) = conjunction(filters) {
            builder = builder.with_predicate(unqualify(predicate)?);
        }
        let (after_table, metrics) = builder.await.map_err(delta_err)?;
        let deleted = match metrics.num_deleted_rows {
            Some(n) => n as u64,
            None => {
                let after = delta::stats(&after_table).map(|s| s.0).unwrap_or(0);
                (before - after).max(0) as u64
            }
        };
        count_plan(deleted)
    }

    async fn update(
        &self,
        _state: &dyn Session,
        assignments: Vec<(String, Expr)>,
        filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.check_writable()?;
        let mut builder = self.table.clone().update();
        for (column, value) in assignments {
            builder = builder.with_update(column, unqualify(value)?);
        }
        if let Some(predicate) = conjunction(filters) {
            builder = builder.with_predicate(unqualify(predicate)?);
        }
        let (_, metrics) = builder.await.map_err(delta_err)?;
        count_plan(metrics.num_updated_rows as u64)
    }

    async fn truncate(&self, state: &dyn Session) -> Result<Arc<dyn ExecutionPlan>> {
        // A Delta delete without predicate: one commit, history kept.
        self.delete_from(state, vec![]).await
    }

    async fn merge_into(
        &self,
        state: &dyn Session,
        source: Arc<dyn ExecutionPlan>,
        merge_schema: DFSchemaRef,
        on: Expr,
        clauses: Vec<MergeIntoClause>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.check_writable()?;
        let changed = super::merge::merge(
            self.table.clone(),
            self.schema().fields().len(),
            state,
            source,
            merge_schema,
            on,
            clauses,
        )
        .await?;
        count_plan(changed)
    }
}
