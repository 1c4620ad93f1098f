//! The composition root: opens every part of the server once, in the
//! direction data flows, and wires them. Nothing below this module reaches
//! up: the engine knows no layer above storage, ingestion takes the catalog
//! and the calling session, models take the registry, and the monitor runs
//! SQL through the small [`SqlRunner`] trait that the engine implements here.
//!
//! ```no_run
//! # async fn f(config: &voidx::config::Config) -> voidx::error::Result<()> {
//! let app = voidx::app::App::open(config).await?;
//! app.engine.execute_sql("SELECT * FROM voidx.models").await?;
//! # Ok(()) }
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use voidx_udfs::{SqlDoc, SqlFunction};

use crate::config::Config;
use crate::engine::Engine;
use crate::error::Result;
use crate::model::prediction_log::PredictionLog;
use crate::model::registry::Registry;
use crate::monitor::{Executed, Monitor, SqlRunner};
use crate::policy::Policy;
use crate::storage::catalog::Catalog;
use crate::storage::dictionary::{DataDictionary, ModelUses};

/// Everything a process serves from one data directory.
pub struct App {
    pub engine: Arc<Engine>,
    pub registry: Arc<Registry>,
    /// Jobs, alert rules and the scheduler's state.
    pub monitor: Arc<Monitor>,
    /// The documentation of every SQL function, by reference section
    /// (rendered by `voidx docs`).
    pub functions: Vec<(&'static str, Vec<SqlDoc>)>,
}

impl App {
    /// Opens (or creates) the data directory and everything over it.
    pub async fn open(config: &Config) -> Result<App> {
        crate::storage::stores::register();
        let table_memory = config.limits.table_cache_mb.saturating_mul(1024 * 1024);
        let data_dir = crate::storage::data_dir::DataDir::open(&config.data_dir)?;
        let catalog =
            Catalog::open_with(data_dir, table_memory, config.storage.compaction()).await?;
        let policy = Arc::new(Policy::new(&config.ingest, &config.data_dir));
        crate::ingest::sources::secrets::set_allowed_env(&config.ingest.secret_env);
        let engine = Engine::open(config, Arc::clone(&catalog), Arc::clone(&policy)).await?;
        crate::ingest::register_sources(&engine.ctx, &policy)?;
        let system = &engine.system;
        let registry = Registry::open(Arc::clone(&catalog), system).await?;
        // voidx.predictions exists in every process (not only while serving),
        // so monitoring views over it load with `voidx sql -f`.
        PredictionLog::register(&catalog, system).await?;
        let runner: Arc<dyn SqlRunner> = Arc::clone(&engine) as Arc<dyn SqlRunner>;
        let monitor = Monitor::open(
            &catalog,
            system,
            &config.monitor,
            &registry,
            &policy,
            Arc::downgrade(&runner),
        )
        .await?;
        let ingest_functions =
            crate::ingest::functions(&catalog, &engine.resolver, system, &policy).await?;
        // The data dictionary reads the catalog and cross-references the
        // registry through a trait, so storage needs no model code.
        let mut catalog_functions = crate::storage::functions::functions(&catalog);
        catalog_functions.push(SqlFunction::table(DataDictionary {
            resolver: Arc::clone(&engine.resolver),
            system: Arc::clone(&engine.system),
            models: Arc::clone(&registry) as Arc<dyn ModelUses>,
        }));
        // One list of every SQL function, by section: registered here,
        // rendered by `voidx docs`, listed by `\df` and information_schema.
        let functions: Vec<(&'static str, Vec<SqlFunction>)> = vec![
            ("Server", crate::engine::functions()),
            ("Delta Lake", catalog_functions),
            ("Ingestion", ingest_functions),
            (
                "Models",
                crate::model::functions(&registry, &engine.resolver, &policy),
            ),
            (
                "Monitoring",
                crate::monitor::functions(&registry, &config.monitor, &monitor),
            ),
        ];
        engine.register_functions(&functions).await?;
        Ok(App {
            engine,
            registry,
            monitor,
            functions: functions
                .into_iter()
                .map(|(title, section)| (title, section.into_iter().map(|f| f.doc).collect()))
                .collect(),
        })
    }
}

impl App {
    /// Every `every`, loads what other servers over the same data directory
    /// committed: the catalog, the model registry, job and alert
    /// definitions. So a table, view, model version, deploy or job created
    /// through one replica is seen through the others within
    /// `storage.refresh_ms` (docs/scale.md). When nothing changed a round
    /// costs five existence checks of next commit files.
    pub fn start_refresh(&self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let (engine, registry, monitor) = (
            Arc::clone(&self.engine),
            Arc::clone(&self.registry),
            Arc::clone(&self.monitor),
        );
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let round = async {
                    engine.refresh_catalog().await?;
                    registry.refresh().await?;
                    monitor.refresh().await
                };
                if let Err(e) = round.await {
                    tracing::warn!(
                        "refresh from the data directory failed: {}",
                        e.client_message()
                    );
                }
            }
        })
    }
}

#[async_trait]
impl SqlRunner for Engine {
    async fn run_sql(&self, sql: &str) -> Result<Vec<Executed>> {
        Ok(self
            .execute_sql(sql)
            .await?
            .into_iter()
            .map(|(schema, batches, tag)| Executed {
                schema,
                batches,
                rows: tag.rows.unwrap_or(0),
            })
            .collect())
    }

    fn count_statements(&self, sql: &str) -> Result<usize> {
        Ok(self.parse(sql)?.len())
    }

    async fn plan_one(&self, sql: &str) -> Result<()> {
        for stmt in self.parse(sql)? {
            self.plan(&stmt).await?;
        }
        Ok(())
    }
}
