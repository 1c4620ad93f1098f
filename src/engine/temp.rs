//! Temporary tables: `CREATE TEMPORARY TABLE t AS …` / `CREATE TEMP TABLE t (…)`
//! as PostgreSQL has them — visible only to the connection that made them,
//! gone when it disconnects, never in the persistent catalog. dbt's
//! incremental models and snapshots build their new rows in one and then
//! `INSERT … SELECT`, `DELETE … USING`, `MERGE` or `UPDATE … FROM` the target.
//!
//! Each connection owns one [`TempTables`] (in-memory `MemTable`s). While it
//! holds any, its statements run in a context whose catalog shows them as the
//! schema `pg_temp` and finds them first for unqualified names (PostgreSQL
//! searches `pg_temp` before the search path), so a temp table shadows a
//! table of the same name in `public`.
//!
//! ```sql
//! CREATE TEMP TABLE new_orders AS SELECT * FROM raw.orders WHERE day = current_date;
//! INSERT INTO dbt.orders SELECT * FROM new_orders;
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemTable, MemorySchemaProvider, SchemaProvider,
    TableProvider,
};
use datafusion::common::TableReference;
use datafusion::error::Result as DfResult;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{ObjectName, ObjectType, Statement as PgStatement};

use super::{CommandTag, Stmt};
use crate::error::{Result, VoidxError};
use crate::storage::catalog::DEFAULT_SCHEMA;

/// The schema name temp tables are listed under.
pub const TEMP_SCHEMA: &str = "pg_temp";

/// One connection's temporary tables; dropped with the connection.
#[derive(Debug, Default)]
pub struct TempTables {
    schema: Arc<MemorySchemaProvider>,
}

impl TempTables {
    pub fn is_empty(&self) -> bool {
        self.schema.table_names().is_empty()
    }

    /// `ctx` with this connection's temp tables in its catalog `catalog`.
    pub fn context(&self, ctx: &SessionContext, catalog: &str) -> Arc<SessionContext> {
        let state = ctx.state();
        let list = Arc::new(TempCatalogList {
            inner: Arc::clone(state.catalog_list()),
            catalog: catalog.to_string(),
            temp: Arc::clone(&self.schema),
        });
        let state = SessionStateBuilder::new_from_existing(state)
            .with_catalog_list(list)
            .build();
        Arc::new(SessionContext::new_with_state(state))
    }

    /// The temp table `name` names (bare or `pg_temp.`-qualified), if any.
    fn find(&self, name: &ObjectName) -> Option<String> {
        let parts: Vec<String> = name
            .0
            .iter()
            .filter_map(|p| p.as_ident().map(|i| i.value.clone()))
            .collect();
        let table = match parts.as_slice() {
            [t] => t,
            [s, t] if s.starts_with(TEMP_SCHEMA) => t,
            _ => return None,
        };
        self.schema.table_exist(table).then(|| table.clone())
    }
}

/// `CREATE TEMP TABLE …`: planned as an ordinary table in `ctx`, its rows
/// computed and kept in memory. `None` when `stmt` is something else.
pub async fn create(
    temp: &TempTables,
    ctx: &SessionContext,
    stmt: &Stmt,
) -> Result<Option<CommandTag>> {
    let Some(PgStatement::CreateTable(create)) = stmt.as_pg() else {
        return Ok(None);
    };
    if !create.temporary {
        return Ok(None);
    }
    let mut plain = create.clone();
    plain.temporary = false;
    let plan = ctx
        .state()
        .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(
            PgStatement::CreateTable(plain),
        )))
        .await?;
    let LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(cmd)) = plan else {
        return Err(VoidxError::Unsupported(
            "this form of CREATE TEMPORARY TABLE is not supported. Help: use CREATE TEMP TABLE t AS SELECT … or CREATE TEMP TABLE t (col type, …)".into(),
        ));
    };
    let name = match &cmd.name {
        TableReference::Bare { table } => table.to_string(),
        TableReference::Partial { schema, table } if schema.starts_with(TEMP_SCHEMA) => {
            table.to_string()
        }
        other => {
            return Err(VoidxError::InvalidArgument(format!(
                "temporary table {other} cannot be created in another schema. Help: name it without a schema (it lives in {TEMP_SCHEMA})"
            )));
        }
    };
    if temp.schema.table_exist(&name) && !cmd.or_replace {
        if cmd.if_not_exists {
            return Ok(Some(CommandTag::new("CREATE TABLE")));
        }
        return Err(VoidxError::DuplicateTable(format!(
            "relation \"{name}\" already exists. Help: DROP TABLE {name} first"
        )));
    }
    let planned = Arc::new(cmd.input.schema().as_arrow().clone());
    let batches: Vec<arrow::array::RecordBatch> = ctx
        .execute_logical_plan(cmd.input.as_ref().clone())
        .await?
        .collect()
        .await?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    // The rows' own schema (the plan's may differ in nullability).
    let schema = batches.first().map(|b| b.schema()).unwrap_or(planned);
    let table = MemTable::try_new(schema, vec![batches])?;
    temp.schema.register_table(name, Arc::new(table))?;
    Ok(Some(if create.query.is_some() {
        CommandTag::with_rows("SELECT", rows)
    } else {
        CommandTag::new("CREATE TABLE")
    }))
}

/// `DROP TABLE` whose names are all this connection's temp tables.
pub fn drop(temp: &TempTables, stmt: &Stmt) -> Result<Option<CommandTag>> {
    let Some(PgStatement::Drop {
        object_type: ObjectType::Table,
        names,
        ..
    }) = stmt.as_pg()
    else {
        return Ok(None);
    };
    let found: Vec<String> = names.iter().filter_map(|n| temp.find(n)).collect();
    if found.is_empty() || found.len() != names.len() {
        return Ok(None);
    }
    for name in found {
        temp.schema.deregister_table(&name)?;
    }
    Ok(Some(CommandTag::new("DROP TABLE")))
}

#[derive(Debug)]
struct TempCatalogList {
    inner: Arc<dyn CatalogProviderList>,
    catalog: String,
    temp: Arc<MemorySchemaProvider>,
}

impl CatalogProviderList for TempCatalogList {
    fn register_catalog(
        &self,
        name: String,
        catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        self.inner.register_catalog(name, catalog)
    }

    fn catalog_names(&self) -> Vec<String> {
        self.inner.catalog_names()
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        let inner = self.inner.catalog(name)?;
        if name != self.catalog {
            return Some(inner);
        }
        Some(Arc::new(TempCatalog {
            inner,
            temp: Arc::clone(&self.temp),
        }))
    }
}

#[derive(Debug)]
struct TempCatalog {
    inner: Arc<dyn CatalogProvider>,
    temp: Arc<MemorySchemaProvider>,
}

impl CatalogProvider for TempCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names = self.inner.schema_names();
        names.push(TEMP_SCHEMA.to_string());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == TEMP_SCHEMA {
            return Some(Arc::clone(&self.temp) as Arc<dyn SchemaProvider>);
        }
        let inner = self.inner.schema(name)?;
        if name != DEFAULT_SCHEMA {
            return Some(inner);
        }
        Some(Arc::new(Shadowed {
            inner,
            temp: Arc::clone(&self.temp),
        }))
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> DfResult<Option<Arc<dyn SchemaProvider>>> {
        self.inner.register_schema(name, schema)
    }

    fn deregister_schema(
        &self,
        name: &str,
        cascade: bool,
    ) -> DfResult<Option<Arc<dyn SchemaProvider>>> {
        self.inner.deregister_schema(name, cascade)
    }
}

/// The default schema as unqualified names see it: temp tables first.
/// Listings stay the persistent schema's (temp tables list under `pg_temp`).
#[derive(Debug)]
struct Shadowed {
    inner: Arc<dyn SchemaProvider>,
    temp: Arc<MemorySchemaProvider>,
}

#[async_trait]
impl SchemaProvider for Shadowed {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Some(t) = self.temp.table(name).await? {
            return Ok(Some(t));
        }
        self.inner.table(name).await
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> DfResult<Option<Arc<dyn TableProvider>>> {
        self.inner.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        self.inner.deregister_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.temp.table_exist(name) || self.inner.table_exist(name)
    }
}
