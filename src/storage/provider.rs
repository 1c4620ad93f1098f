//! DataFusion's view of the persistent catalog: one `CatalogProvider` whose
//! schemas resolve names to fresh providers on every lookup — managed tables
//! at their latest Delta version, views re-planned from their stored SQL (so
//! a view never shows a stale snapshot), external tables from their DDL.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::datasource::ViewTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{DdlStatement, LogicalPlan, TableType};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{Ident, ObjectName};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

use super::catalog::{Catalog, Entry, Kind, SYSTEM_SCHEMA};
use super::managed_table::ManagedTable;
use super::system::SystemSchema;
use crate::error::VoidxError;

/// Handle to the session, set once the `SessionContext` exists (views and
/// external tables need it to plan), held weakly to avoid a cycle.
#[derive(Debug, Default)]
pub struct SessionHandle(RwLock<Weak<SessionContext>>);

impl SessionHandle {
    pub fn set(&self, ctx: &Arc<SessionContext>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::downgrade(ctx);
    }

    pub fn get(&self) -> Result<Arc<SessionContext>> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .upgrade()
            .ok_or_else(|| DataFusionError::Internal("session is shutting down".into()))
    }
}

/// Resolves catalog entries to providers.
#[derive(Debug)]
pub struct Resolver {
    pub catalog: Arc<Catalog>,
    pub session: SessionHandle,
    /// External non-Delta tables keep their provider (listing tables list
    /// their files at every scan, so they are never stale).
    external: RwLock<HashMap<String, Arc<dyn TableProvider>>>,
}

impl Resolver {
    pub fn new(catalog: Arc<Catalog>) -> Arc<Resolver> {
        Arc::new(Resolver {
            catalog,
            session: SessionHandle::default(),
            external: RwLock::new(HashMap::new()),
        })
    }

    pub async fn provider(&self, entry: &Entry) -> Result<Arc<dyn TableProvider>> {
        if entry.is_delta() {
            let location = entry.location.as_deref().unwrap_or_default();
            let table = self.catalog.delta_table(location).await?;
            // External Delta tables are someone else's data: read-only here.
            let read_only = entry.kind == Kind::External;
            let managed = ManagedTable::try_new(entry.qualified(), table, read_only)
                .await?
                .looked_up_at(location)
                .held_in(self.catalog.table_memory());
            return Ok(Arc::new(managed));
        }
        match entry.kind {
            Kind::View => self.view(entry).await,
            Kind::External => {
                let key = entry.qualified();
                if let Some(p) = self
                    .external
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&key)
                {
                    return Ok(Arc::clone(p));
                }
                let provider = self.external_provider(entry).await?;
                self.external
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key, Arc::clone(&provider));
                Ok(provider)
            }
            _ => Err(DataFusionError::Internal(format!(
                "{} is not a relation",
                entry.qualified()
            ))),
        }
    }

    pub fn forget_external(&self, entry: &Entry) {
        self.external
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&entry.qualified());
    }

    async fn view(&self, entry: &Entry) -> Result<Arc<dyn TableProvider>> {
        let definition = entry.definition.clone().unwrap_or_default();
        match self.plan_definition(&definition).await? {
            LogicalPlan::Ddl(DdlStatement::CreateView(view)) => Ok(Arc::new(ViewTable::new(
                view.input.as_ref().clone(),
                Some(definition),
            ))),
            _ => Err(DataFusionError::Internal(format!(
                "stored definition of {} is not a view",
                entry.qualified()
            ))),
        }
    }

    async fn external_provider(&self, entry: &Entry) -> Result<Arc<dyn TableProvider>> {
        let definition = entry.definition.clone().unwrap_or_default();
        match self.plan_definition(&definition).await? {
            LogicalPlan::Ddl(DdlStatement::CreateExternalTable(cmd)) => {
                let ctx = self.session.get()?;
                let state = ctx.state();
                let factory = state
                    .table_factories()
                    .get(cmd.file_type.as_str())
                    .ok_or_else(|| {
                        DataFusionError::Plan(format!(
                            "no table factory for STORED AS {}",
                            cmd.file_type
                        ))
                    })?;
                factory.create(&state, &cmd).await
            }
            _ => Err(DataFusionError::Internal(format!(
                "stored definition of {} is not an external table",
                entry.qualified()
            ))),
        }
    }

    /// Plan a stored DDL statement (without executing it).
    pub async fn plan_definition(&self, sql: &str) -> Result<LogicalPlan> {
        let ctx = self.session.get()?;
        let state = ctx.state();
        let mut statements = DFParserBuilder::new(sql)
            .with_dialect(&PostgreSqlDialect {})
            .build()?
            .parse_statements()?;
        let mut statement = statements
            .pop_front()
            .ok_or_else(|| DataFusionError::Internal("empty stored definition".into()))?;
        // Planning CREATE EXTERNAL TABLE looks its own name up, which would
        // resolve back to this entry; plan it under a name that never exists.
        if let DFStatement::CreateExternalTable(cmd) = &mut statement {
            cmd.name = ObjectName::from(vec![Ident::with_quote('"', "__voidx_stored_definition")]);
        }
        state.statement_to_plan(statement).await
    }
}

/// The catalog as DataFusion sees it.
#[derive(Debug)]
pub struct VoidxCatalogProvider {
    resolver: Arc<Resolver>,
    system: Arc<SystemSchema>,
    /// Schemas that live only in memory (pg_catalog).
    extra: RwLock<HashMap<String, Arc<dyn SchemaProvider>>>,
}

impl VoidxCatalogProvider {
    pub fn new(resolver: Arc<Resolver>, system: Arc<SystemSchema>) -> Self {
        VoidxCatalogProvider {
            resolver,
            system,
            extra: RwLock::new(HashMap::new()),
        }
    }
}

impl CatalogProvider for VoidxCatalogProvider {
    fn schema_names(&self) -> Vec<String> {
        let mut names = self.resolver.catalog.schema_names();
        names.push(SYSTEM_SCHEMA.to_string());
        names.extend(
            self.extra
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .keys()
                .cloned(),
        );
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if let Some(s) = self
            .extra
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return Some(Arc::clone(s));
        }
        if name == SYSTEM_SCHEMA {
            return Some(Arc::clone(&self.system) as _);
        }
        self.resolver.catalog.schema_exists(name).then(|| {
            Arc::new(VoidxSchemaProvider {
                schema: name.to_string(),
                resolver: Arc::clone(&self.resolver),
            }) as Arc<dyn SchemaProvider>
        })
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        Ok(self
            .extra
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), schema))
    }
}

#[derive(Debug)]
pub struct VoidxSchemaProvider {
    schema: String,
    resolver: Arc<Resolver>,
}

#[async_trait]
impl SchemaProvider for VoidxSchemaProvider {
    fn table_names(&self) -> Vec<String> {
        self.resolver.catalog.table_names(&self.schema)
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        match self.resolver.catalog.get(&self.schema, name) {
            Some(entry) => self.resolver.provider(&entry).await.map(Some),
            None => Ok(None),
        }
    }

    async fn table_type(&self, name: &str) -> Result<Option<TableType>> {
        Ok(self
            .resolver
            .catalog
            .get(&self.schema, name)
            .map(|e| match e.kind {
                Kind::View => TableType::View,
                _ => TableType::Base,
            }))
    }

    fn register_table(
        &self,
        name: String,
        _table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        // Reached when DDL arrives where a query is expected (the query
        // argument of train, ingest, drift_report): the user's mistake, not
        // an internal error.
        Err(VoidxError::Unsupported(format!(
            "table {}.{name} cannot be created here. Help: run CREATE TABLE … AS as its own statement; a query argument must be a SELECT",
            self.schema
        ))
        .into())
    }

    fn table_exist(&self, name: &str) -> bool {
        self.resolver.catalog.get(&self.schema, name).is_some()
    }
}
