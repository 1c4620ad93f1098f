//! Monitoring layer: drift against training references, model performance
//! from actual outcomes, alert rules and scheduled jobs, and the retraining
//! trigger.
//!
//! ```sql
//! SELECT * FROM create_job('nightly_ingest', 'SELECT * FROM ingest(...)', '{"cron": "0 3 * * *", "retries": 2}');
//! SELECT * FROM create_alert('revenue_drop', 'SELECT ... HAVING sum(x) < 100', '{"every": "5m", "webhook": "https://hooks.example/x"}');
//! SELECT * FROM retrain('revenue_predictor', '{"holdout": {"column": "order_date", "fraction": 0.2}}');
//! ```

pub mod alerts;
pub mod drift;
mod functions;
pub mod jobs;
pub mod performance;
pub mod retrain;
pub mod schedule;
mod sql;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use arrow::array::RecordBatch;
use voidx_udfs::SqlFunction;

use crate::config::MonitorConfig;
use crate::error::{Result, VoidxError};
use crate::model::registry::Registry;
use crate::policy::Policy;
use crate::storage::catalog::{Catalog, now_ms};
use crate::storage::system::SystemSchema;
use crate::storage::system_table::SystemTable;
use alerts::RuleState;
use jobs::JobState;
pub use sql::{Executed, SqlRunner};

/// Every monitoring function (drift, performance, jobs, alerts, retrain),
/// with its documentation.
pub fn functions(
    registry: &Arc<Registry>,
    config: &MonitorConfig,
    monitor: &Arc<Monitor>,
) -> Vec<SqlFunction> {
    let mut functions = drift::functions(registry, config);
    functions.push(performance::function(registry));
    functions.extend(functions::functions(monitor));
    functions
}

/// Jobs, alert rules and their history; the scheduler runs on top of it.
pub struct Monitor {
    pub config: MonitorConfig,
    pub(crate) jobs_table: SystemTable,
    pub(crate) runs_table: SystemTable,
    pub(crate) rules_table: SystemTable,
    pub(crate) alerts_table: SystemTable,
    /// Runs the SQL of jobs, alert rules and retraining. Weak: the
    /// runner's session holds this monitor's functions, so a strong
    /// reference would be a cycle that is never freed.
    sql: Weak<dyn SqlRunner>,
    pub(crate) registry: Arc<Registry>,
    /// Checks webhook URLs and builds the allowlisting HTTP client.
    pub(crate) policy: Arc<Policy>,
    pub(crate) jobs: Mutex<BTreeMap<String, JobState>>,
    pub(crate) rules: Mutex<BTreeMap<String, RuleState>>,
    /// Keys (`job:x`, `alert:y`) of work in flight: nothing overlaps itself.
    running: Mutex<HashSet<String>>,
    /// Serialises rewrites of the definition tables.
    pub(crate) definitions: tokio::sync::Mutex<()>,
    /// Where slot claims are made (docs/scale.md).
    catalog: Arc<Catalog>,
    /// Versions of `voidx.jobs` and `voidx.alert_rules` last loaded.
    seen: tokio::sync::Mutex<(Option<u64>, Option<u64>)>,
    /// Slots claimed by this process, for pruning old claims now and then.
    claims: std::sync::atomic::AtomicU64,
}

/// Claims pruned every this many claims of a process.
const PRUNE_EVERY: u64 = 64;

/// Marks a job or rule as running until dropped.
pub(crate) struct Running<'a> {
    monitor: &'a Monitor,
    key: String,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        lock(&self.monitor.running).remove(&self.key);
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Monitor {
    /// Opens `voidx.jobs`, `voidx.job_runs`, `voidx.alert_rules`,
    /// `voidx.alerts` and reads the definitions back.
    pub async fn open(
        catalog: &Arc<Catalog>,
        system: &SystemSchema,
        config: &MonitorConfig,
        registry: &Arc<Registry>,
        policy: &Arc<Policy>,
        sql: Weak<dyn SqlRunner>,
    ) -> Result<Arc<Monitor>> {
        let monitor = Arc::new(Monitor {
            config: config.clone(),
            jobs_table: SystemTable::open(catalog, system, "jobs", jobs::jobs_schema()).await?,
            runs_table: SystemTable::open(catalog, system, "job_runs", jobs::runs_schema())
                .await?
                .append_only(),
            rules_table: SystemTable::open(catalog, system, "alert_rules", alerts::rules_schema())
                .await?,
            alerts_table: SystemTable::open(catalog, system, "alerts", alerts::alerts_schema())
                .await?
                .append_only(),
            sql,
            registry: Arc::clone(registry),
            policy: Arc::clone(policy),
            jobs: Mutex::new(BTreeMap::new()),
            rules: Mutex::new(BTreeMap::new()),
            running: Mutex::new(HashSet::new()),
            definitions: tokio::sync::Mutex::new(()),
            catalog: Arc::clone(catalog),
            seen: tokio::sync::Mutex::new((None, None)),
            claims: std::sync::atomic::AtomicU64::new(0),
        });
        monitor.refresh().await?;
        Ok(monitor)
    }

    /// The SQL runner, while the server is up.
    pub(crate) fn sql(&self) -> Result<Arc<dyn SqlRunner>> {
        self.sql
            .upgrade()
            .ok_or_else(|| VoidxError::Internal("the engine is shutting down".into()))
    }

    pub(crate) fn try_start(&self, key: String) -> Option<Running<'_>> {
        if lock(&self.running).insert(key.clone()) {
            Some(Running { monitor: self, key })
        } else {
            None
        }
    }

    pub(crate) fn is_running(&self, key: &str) -> bool {
        lock(&self.running).contains(key)
    }

    /// The scheduler: every `monitor.tick_ms`, starts due job slots and
    /// alert evaluations, each in its own task. The server calls this when
    /// `monitor.scheduler` is on; `voidx sql` never does.
    pub fn start_scheduler(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let monitor = Arc::clone(self);
        let tick = Duration::from_millis(self.config.tick_ms.max(10));
        tracing::info!(tick_ms = tick.as_millis() as u64, "scheduler started");
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                monitor.tick(now_ms());
            }
        })
    }

    fn tick(self: &Arc<Self>, now: i64) {
        for (name, slot) in self.due_jobs(now) {
            let monitor = Arc::clone(self);
            tokio::spawn(async move {
                let interval = lock(&monitor.jobs)
                    .get(&name)
                    .map_or(0, |j| j.schedule.interval_ms(slot));
                if !monitor.claim("jobs", &name, slot, interval).await {
                    return;
                }
                if let Err(e) = monitor.run_job(&name, Some(slot), "schedule").await {
                    tracing::warn!(job = %name, "job run not recorded: {}", e.client_message());
                }
            });
        }
        for (name, slot) in self.due_rules(now) {
            let monitor = Arc::clone(self);
            tokio::spawn(async move {
                let interval = lock(&monitor.rules)
                    .get(&name)
                    .map_or(0, |r| r.schedule.interval_ms(slot));
                if !monitor.claim("alerts", &name, slot, interval).await {
                    return;
                }
                if let Err(e) = monitor.evaluate_rule(&name).await {
                    tracing::warn!(alert = %name, "alert evaluation failed: {}", e.client_message());
                }
            });
        }
    }

    /// Claims `slot` of the job or rule `name` for this process: of several
    /// servers over one data directory exactly one runs each slot (the
    /// claim is a create-if-absent of `voidx/leases/<kind>/<name>/<slot>`).
    /// A server that dies while running a slot leaves it claimed, as a
    /// crash of a single server leaves it started and not finished. Now and
    /// then the claims of `name` older than a day and two intervals are
    /// deleted: no server runs a slot that old (a scheduler runs only the
    /// latest due slot).
    async fn claim(&self, kind: &str, name: &str, slot: i64, interval_ms: i64) -> bool {
        let data_dir = self.catalog.data_dir();
        let body = serde_json::json!({ "claimed_at": now_ms() }).to_string();
        let slot_text = slot.to_string();
        let parts = ["voidx", "leases", kind, name, slot_text.as_str()];
        match data_dir.put_if_absent(&parts, body.into_bytes()).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(kind, name, slot, "slot claimed by another server");
                return false;
            }
            Err(e) => {
                tracing::warn!(
                    kind,
                    name,
                    slot,
                    "slot not run: cannot claim it: {}",
                    e.client_message()
                );
                return false;
            }
        }
        let claims = self
            .claims
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if claims % PRUNE_EVERY == PRUNE_EVERY - 1 {
            let keep = chrono::Duration::milliseconds(interval_ms.saturating_mul(2))
                .max(chrono::Duration::days(1));
            let cutoff = chrono::Utc::now() - keep;
            if let Err(e) = data_dir
                .remove_older(&["voidx", "leases", kind, name], cutoff)
                .await
            {
                tracing::warn!("old slot claims not removed: {}", e.client_message());
            }
        }
        true
    }

    /// Loads job and alert definitions other servers committed since they
    /// were last read (two existence checks when nothing changed).
    pub async fn refresh(&self) -> Result<()> {
        // Not while this process creates or drops one: a load that read the
        // table before a drop_job committed would bring the job back.
        let _definitions = self.definitions.lock().await;
        let mut seen = self.seen.lock().await;
        let now = (
            self.jobs_table.version().await?,
            self.rules_table.version().await?,
        );
        if now.0 != seen.0 {
            self.load_jobs().await?;
        }
        if now.1 != seen.1 {
            self.load_rules().await?;
        }
        *seen = now;
        Ok(())
    }
}

/// The rows of a result as JSON objects (at most `limit`), and how many
/// rows there were.
pub(crate) fn rows_json(
    batches: &[RecordBatch],
    limit: usize,
) -> Result<(Vec<serde_json::Value>, usize)> {
    let total = batches.iter().map(|b| b.num_rows()).sum();
    let mut out = Vec::new();
    for batch in batches {
        if out.len() >= limit {
            break;
        }
        let batch = batch.slice(0, batch.num_rows().min(limit - out.len()));
        let mut buf = Vec::new();
        {
            let mut writer = arrow_json::ArrayWriter::new(&mut buf);
            writer.write(&batch)?;
            writer.finish()?;
        }
        if buf.is_empty() {
            continue;
        }
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&buf)
            .map_err(|e| VoidxError::Internal(format!("cannot turn rows into JSON: {e}")))?;
        out.extend(rows);
    }
    Ok((out, total))
}

/// Options text → JSON object, with the function name in the error.
pub(crate) fn parse_options(text: &str, what: &str, example: &str) -> Result<serde_json::Value> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        VoidxError::InvalidArgument(format!("{what} options: {e}. Help: {example}"))
    })?;
    if !value.is_object() {
        return Err(VoidxError::InvalidArgument(format!(
            "{what} options must be a JSON object. Help: {example}"
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use crate::config::Config;

    /// The cost of evaluating alert rules, printed for docs/monitoring.md:
    /// `cargo test --workspace --lib -- alert_evaluation_overhead --nocapture`.
    #[tokio::test(flavor = "multi_thread")]
    async fn alert_evaluation_overhead() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().display().to_string(),
            ..Config::default()
        };
        let app = crate::app::App::open(&config).await.unwrap();
        let engine = std::sync::Arc::clone(&app.engine);
        let monitor = std::sync::Arc::clone(&app.monitor);
        engine
            .execute_sql(
                "CREATE TABLE m AS SELECT value AS x FROM generate_series(1, 10000) AS g(value)",
            )
            .await
            .unwrap();
        const N: usize = 20;
        for i in 0..N {
            let sql = format!("SELECT count(*) AS n FROM m WHERE x > {i} HAVING count(*) < 0");
            monitor
                .create_alert(&format!("quiet_{i}"), &sql, r#"{"every": "1h"}"#)
                .await
                .unwrap();
            let sql = format!("SELECT max(x) AS top FROM m WHERE x > {i}");
            monitor
                .create_alert(&format!("loud_{i}"), &sql, r#"{"every": "1h"}"#)
                .await
                .unwrap();
        }
        let time = |prefix: &'static str| {
            let monitor = std::sync::Arc::clone(&monitor);
            async move {
                let started = Instant::now();
                let mut events = 0;
                for i in 0..N {
                    let event = monitor
                        .evaluate_rule(&format!("{prefix}_{i}"))
                        .await
                        .unwrap();
                    events += usize::from(event.is_some());
                }
                (started.elapsed().as_secs_f64() * 1000.0 / N as f64, events)
            }
        };
        let (quiet_ms, quiet_events) = time("quiet").await;
        let (fire_ms, fired) = time("loud").await;
        let (dedup_ms, refired) = time("loud").await;
        assert_eq!((quiet_events, fired, refired), (0, N, 0));
        eprintln!(
            "alert evaluation over 10k rows, per rule: quiet {quiet_ms:.2} ms, firing {fire_ms:.2} ms (incl. voidx.alerts append), deduplicated {dedup_ms:.2} ms"
        );
    }
}
