//! Scheduled SQL jobs: definitions in `voidx.jobs`, one row per attempt in
//! `voidx.job_runs`. A run is keyed by its slot (the scheduled time); at
//! start the last finished slot of each job is read back, so a restart
//! never runs a slot that already finished.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use super::schedule::{Schedule, duration_option};
use super::{Monitor, lock, parse_options, rows_json};
use crate::error::{Result, VoidxError};
use crate::model::registry::check_name;
use crate::storage::catalog::now_ms;
use crate::storage::system_table::ts;

/// One row of `voidx.jobs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobDef {
    pub name: String,
    pub sql: String,
    /// `every 5m` or `cron 0 * * * *`.
    pub schedule: String,
    pub retries: i64,
    pub backoff_ms: i64,
    pub timeout_ms: Option<i64>,
    pub options: String,
    pub created_at: i64,
}

/// One row of `voidx.job_runs`: one attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRun {
    pub job: String,
    /// The scheduled time this run is for; NULL for `run_job`.
    pub slot: Option<i64>,
    /// `schedule` or `manual`.
    pub trigger: String,
    pub started_at: i64,
    pub ended_at: i64,
    /// `success`, `retry` (failed, will be retried) or `failed` (last attempt failed).
    pub status: String,
    pub rows: i64,
    pub error: Option<String>,
    pub attempt: i64,
    /// The last statement's rows as JSON (at most 20), e.g. retrain's decision.
    pub output: Option<String>,
}

pub fn jobs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("sql", DataType::Utf8, false),
        Field::new("schedule", DataType::Utf8, false),
        Field::new("retries", DataType::Int64, false),
        Field::new("backoff_ms", DataType::Int64, false),
        Field::new("timeout_ms", DataType::Int64, true),
        Field::new("options", DataType::Utf8, false),
        Field::new("created_at", ts(), false),
    ]))
}

pub fn runs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("job", DataType::Utf8, false),
        Field::new("slot", ts(), true),
        Field::new("trigger", DataType::Utf8, false),
        Field::new("started_at", ts(), false),
        Field::new("ended_at", ts(), false),
        Field::new("status", DataType::Utf8, false),
        Field::new("rows", DataType::Int64, false),
        Field::new("error", DataType::Utf8, true),
        Field::new("attempt", DataType::Int64, false),
        Field::new("output", DataType::Utf8, true),
    ]))
}

/// A job as the scheduler sees it.
#[derive(Debug, Clone)]
pub struct JobState {
    pub def: JobDef,
    pub schedule: Schedule,
    /// The latest slot started (or finished, read back at start).
    pub last_slot: i64,
    pub last_success: Option<i64>,
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    pub failures: u64,
    pub successes: u64,
}

/// Per job, for `/health` and `/metrics`.
#[derive(Debug, Clone, Serialize)]
pub struct JobHealth {
    pub name: String,
    pub schedule: String,
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    /// Seconds since the last success (since creation when none yet).
    pub staleness_seconds: f64,
    pub failures: u64,
    pub successes: u64,
    /// The last run failed, or no success for more than 2× the interval.
    pub degraded: bool,
}

#[derive(Deserialize)]
struct RunSummary {
    job: String,
    last_slot: Option<i64>,
    last_success: Option<i64>,
    failures: Option<i64>,
    successes: Option<i64>,
}

#[derive(Deserialize)]
struct LastRun {
    job: String,
    status: String,
    error: Option<String>,
}

pub const JOB_EXAMPLE: &str =
    "'{\"every\": \"5m\", \"retries\": 2, \"backoff\": \"10s\", \"timeout\": \"10m\"}'";

impl Monitor {
    pub(crate) async fn load_jobs(&self) -> Result<()> {
        let defs: Vec<JobDef> = self.jobs_table.read().await?;
        let summaries: Vec<RunSummary> = self
            .runs_table
            .query(
                "SELECT job, max(slot) AS last_slot, \
                 max(CASE WHEN status = 'success' THEN ended_at END) AS last_success, \
                 sum(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failures, \
                 sum(CASE WHEN status = 'success' THEN 1 ELSE 0 END) AS successes \
                 FROM t WHERE status <> 'retry' GROUP BY job",
            )
            .await?;
        let last: Vec<LastRun> = self
            .runs_table
            .query(
                "SELECT job, status, error FROM (SELECT job, status, error, row_number() OVER \
                 (PARTITION BY job ORDER BY ended_at DESC) AS rn FROM t WHERE status <> 'retry') \
                 WHERE rn = 1",
            )
            .await?;
        let mut jobs = lock(&self.jobs);
        // Jobs dropped through another server; those unchanged keep the
        // state this process has (its slots, counts).
        jobs.retain(|name, job| {
            defs.iter()
                .any(|d| d.name == *name && d.created_at == job.def.created_at)
        });
        for def in defs {
            if jobs.contains_key(&def.name) {
                continue;
            }
            let schedule = Schedule::parse_described(&def.schedule)?;
            let summary = summaries.iter().find(|s| s.job == def.name);
            let last_run = last.iter().find(|l| l.job == def.name);
            // Runs of an older job with the same name do not count.
            let last_slot = summary
                .and_then(|s| s.last_slot)
                .filter(|s| *s >= def.created_at)
                .unwrap_or(def.created_at);
            jobs.insert(
                def.name.clone(),
                JobState {
                    schedule,
                    last_slot,
                    last_success: summary.and_then(|s| s.last_success),
                    last_status: last_run.map(|l| l.status.clone()),
                    last_error: last_run.and_then(|l| l.error.clone()),
                    failures: summary.and_then(|s| s.failures).unwrap_or(0) as u64,
                    successes: summary.and_then(|s| s.successes).unwrap_or(0) as u64,
                    def,
                },
            );
        }
        Ok(())
    }

    /// `create_job`: validates, stores the definition, returns it with its first slot.
    pub async fn create_job(
        &self,
        name: &str,
        sql: &str,
        options_text: &str,
    ) -> Result<(JobDef, i64)> {
        check_name(name)?;
        let options = parse_options(options_text, "create_job", JOB_EXAMPLE)?;
        let schedule = Schedule::from_options(&options, "create_job")?;
        if self.sql()?.count_statements(sql)? == 0 {
            return Err(VoidxError::InvalidArgument(
                "create_job: the SQL text has no statement. Help: SELECT * FROM create_job('name', 'SELECT …', '{\"every\": \"1h\"}')".into(),
            ));
        }
        let retries = match options.get("retries") {
            None => 0,
            Some(v) => v
                .as_i64()
                .filter(|r| (0..=100).contains(r))
                .ok_or_else(|| {
                    VoidxError::InvalidArgument(
                        "create_job: retries must be an integer from 0 to 100".into(),
                    )
                })?,
        };
        let backoff_ms = duration_option(&options, "backoff", Some(1000))?.unwrap_or(1000);
        let timeout_ms = duration_option(&options, "timeout", None)?;
        let created_at = now_ms();
        let def = JobDef {
            name: name.to_string(),
            sql: sql.to_string(),
            schedule: schedule.describe(),
            retries,
            backoff_ms,
            timeout_ms,
            options: options.to_string(),
            created_at,
        };
        let _guard = self.definitions.lock().await;
        // Decided on the committed definitions: another server may have
        // created or dropped jobs this one has not loaded yet.
        self.jobs_table
            .update(|all: &mut Vec<JobDef>| {
                if all.iter().any(|j| j.name == name) {
                    return Err(VoidxError::DuplicateTable(format!(
                        "job '{name}' already exists. Help: SELECT * FROM drop_job('{name}') first"
                    )));
                }
                all.push(def.clone());
                Ok(true)
            })
            .await?;
        let first = schedule.next_after(created_at)?;
        lock(&self.jobs).insert(
            name.to_string(),
            JobState {
                def: def.clone(),
                schedule,
                last_slot: created_at,
                last_success: None,
                last_status: None,
                last_error: None,
                failures: 0,
                successes: 0,
            },
        );
        tracing::info!(job = %name, schedule = %def.schedule, "job created");
        Ok((def, first))
    }

    /// `drop_job`: false when there was no such job. Its runs stay in voidx.job_runs.
    pub async fn drop_job(&self, name: &str) -> Result<bool> {
        let _guard = self.definitions.lock().await;
        let mut found = false;
        self.jobs_table
            .update(|all: &mut Vec<JobDef>| {
                let before = all.len();
                all.retain(|j| j.name != name);
                found = all.len() < before;
                Ok(found)
            })
            .await?;
        lock(&self.jobs).remove(name);
        Ok(found)
    }

    /// Jobs with a due slot that are not running; marks the slot taken.
    pub(crate) fn due_jobs(&self, now: i64) -> Vec<(String, i64)> {
        let mut due = Vec::new();
        let mut jobs = lock(&self.jobs);
        for (name, job) in jobs.iter_mut() {
            if self.is_running(&format!("job:{name}")) {
                continue;
            }
            match job.schedule.due(job.last_slot, now) {
                Ok(Some(slot)) => {
                    job.last_slot = slot;
                    due.push((name.clone(), slot));
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(job = %name, "schedule: {}", e.client_message()),
            }
        }
        due
    }

    /// Runs a job now (all attempts); returns its last attempt.
    pub async fn run_job(&self, name: &str, slot: Option<i64>, trigger: &str) -> Result<JobRun> {
        let def = lock(&self.jobs)
            .get(name)
            .map(|j| j.def.clone())
            .ok_or_else(|| {
                VoidxError::UndefinedObject(format!(
                    "no job '{name}'. Help: SELECT name, schedule FROM voidx.jobs"
                ))
            })?;
        let Some(_running) = self.try_start(format!("job:{name}")) else {
            return Err(VoidxError::ObjectInUse(format!(
                "job '{name}' is running; a job never overlaps itself. Help: SELECT * FROM voidx.job_runs WHERE job = '{name}' ORDER BY started_at DESC"
            )));
        };
        let attempts = def.retries + 1;
        let mut attempt = 1;
        loop {
            let started_at = now_ms();
            let started = Instant::now();
            let outcome = self.execute_job_sql(&def).await;
            let last = attempt >= attempts;
            let run = match outcome {
                Ok((rows, output)) => JobRun {
                    job: name.to_string(),
                    slot,
                    trigger: trigger.to_string(),
                    started_at,
                    ended_at: now_ms(),
                    status: "success".into(),
                    rows,
                    error: None,
                    attempt,
                    output,
                },
                Err(e) => JobRun {
                    job: name.to_string(),
                    slot,
                    trigger: trigger.to_string(),
                    started_at,
                    ended_at: now_ms(),
                    status: if last { "failed" } else { "retry" }.into(),
                    rows: 0,
                    error: Some(e.client_message()),
                    attempt,
                    output: None,
                },
            };
            match &run.error {
                None => {
                    tracing::info!(job = %name, attempt, rows = run.rows, ms = started.elapsed().as_millis() as u64, "job succeeded")
                }
                Some(e) => tracing::warn!(job = %name, attempt, of = attempts, "job failed: {e}"),
            }
            self.runs_table.append(std::slice::from_ref(&run)).await?;
            if run.status != "retry" {
                if let Some(job) = lock(&self.jobs).get_mut(name) {
                    job.last_status = Some(run.status.clone());
                    job.last_error = run.error.clone();
                    if run.status == "success" {
                        job.last_success = Some(run.ended_at);
                        job.successes += 1;
                    } else {
                        job.failures += 1;
                    }
                }
                return Ok(run);
            }
            let backoff = def.backoff_ms.saturating_mul(1 << (attempt - 1).min(16));
            tokio::time::sleep(Duration::from_millis(backoff as u64)).await;
            attempt += 1;
        }
    }

    /// Every statement of the job; rows counted over all of them, the last
    /// result set kept as JSON.
    async fn execute_job_sql(&self, def: &JobDef) -> Result<(i64, Option<String>)> {
        let sql = self.sql()?;
        let work = async {
            let results = sql.run_sql(&def.sql).await?;
            let rows = results.iter().map(|r| r.rows as i64).sum::<i64>();
            let output = match results.iter().rev().find(|r| r.schema.is_some()) {
                Some(r) => {
                    let (json, _) = rows_json(&r.batches, 20)?;
                    Some(serde_json::Value::Array(json).to_string())
                }
                None => None,
            };
            Ok::<_, VoidxError>((rows, output))
        };
        match def.timeout_ms {
            Some(ms) => tokio::time::timeout(Duration::from_millis(ms as u64), work)
                .await
                .map_err(|_| VoidxError::Timeout(ms as u128))?,
            None => work.await,
        }
    }

    /// Staleness and failures per job, for `/health` and `/metrics`.
    pub fn job_health(&self, now: i64) -> Vec<JobHealth> {
        lock(&self.jobs)
            .values()
            .map(|j| {
                let since = j.last_success.unwrap_or(j.def.created_at);
                let staleness_ms = (now - since).max(0);
                let interval = j.schedule.interval_ms(now);
                let failed = j.last_status.as_deref() == Some("failed");
                JobHealth {
                    name: j.def.name.clone(),
                    schedule: j.def.schedule.clone(),
                    last_status: j.last_status.clone(),
                    last_error: j.last_error.clone(),
                    staleness_seconds: staleness_ms as f64 / 1000.0,
                    failures: j.failures,
                    successes: j.successes,
                    degraded: failed || staleness_ms > 2 * interval,
                }
            })
            .collect()
    }
}
