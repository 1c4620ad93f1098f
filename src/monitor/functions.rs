//! The monitoring table functions: `create_job`, `drop_job`, `run_job`,
//! `create_alert`, `drop_alert`, `retrain`. Each does its work when the
//! query runs (never at planning, so `EXPLAIN` changes nothing).

use std::sync::Arc;

use arrow::array::TimestampMillisecondArray;
use arrow::array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;
use futures::FutureExt;
use voidx_udfs::{Implementation, SqlDoc, SqlFunction};

use super::Monitor;
use super::alerts::ALERT_EXAMPLE;
use super::jobs::JOB_EXAMPLE;
use super::retrain::RETRAIN_EXAMPLE;
use crate::error::VoidxError;
use crate::storage::functions::literal_str;
use crate::storage::lazy::LazyTable;
use crate::storage::system_table::ts;

#[derive(Debug, Clone, Copy)]
enum Kind {
    CreateJob,
    DropJob,
    RunJob,
    CreateAlert,
    DropAlert,
    Retrain,
}

const CREATE_JOB: SqlDoc = SqlDoc {
    name: "create_job",
    kind: "table",
    syntax: "create_job(name, sql, options_json)",
    description: "Schedules SQL text (one or more statements: ingest, refreshes, retrain, …) to run in the server. Options: `every` (\"30s\", \"5m\", \"2h\", \"1d\"; slots aligned to the Unix epoch) or `cron` (five fields, UTC), `retries` (0), `backoff` (\"1s\", doubled per retry), `timeout` (none). Every attempt is a row of voidx.job_runs (slot, status success | retry | failed, rows, error, attempt, output); a job never overlaps itself, and a restart resumes without running a slot that already finished. Needs `monitor.scheduler = true` in a serving process; `run_job` runs it now from anywhere.",
    arguments: &[
        ("name", "job name: letters, digits, underscores"),
        ("sql", "the SQL text to run"),
        ("options_json", "schedule, retries, backoff, timeout"),
    ],
    example: "SELECT * FROM create_job('refresh_orders', 'SELECT * FROM ingest(''raw.orders'', ''SELECT * FROM orders_api'', ''{\"mode\":\"merge\",\"key\":\"order_id\"}'')', '{\"every\": \"15m\", \"retries\": 2, \"timeout\": \"5m\"}');",
};

const DROP_JOB: SqlDoc = SqlDoc {
    name: "drop_job",
    kind: "table",
    syntax: "drop_job(name)",
    description: "Removes a job from voidx.jobs (its history stays in voidx.job_runs). Returns whether it existed.",
    arguments: &[("name", "job name")],
    example: "SELECT * FROM drop_job('refresh_orders');",
};

const RUN_JOB: SqlDoc = SqlDoc {
    name: "run_job",
    kind: "table",
    syntax: "run_job(name)",
    description: "Runs a job now, with its retries and timeout, and returns its last attempt (status, attempt, rows, error, output). Recorded in voidx.job_runs with trigger 'manual' and no slot. Refused with SQLSTATE 55006 while the job is running; an unknown name is 42704.",
    arguments: &[("name", "job name")],
    example: "SELECT status, attempt, rows, error FROM run_job('refresh_orders');",
};

const CREATE_ALERT: SqlDoc = SqlDoc {
    name: "create_alert",
    kind: "table",
    syntax: "create_alert(name, sql, options_json)",
    description: "An alert rule: `sql` is a query that returns rows when something is wrong (it must plan when the rule is created). Options: `every` or `cron` (the schedule), `repeat` (default: monitor.alert_repeat_ms, 4 h; `cooldown` is an older name: a condition that stays true — the query keeps returning rows, whichever — fires once and then reminds once per repeat; after it cleared, the next true evaluation fires at once), `webhook` (POSTs {alert, fired_at, rows, payload} as JSON, with `webhook_retries` (3) retries and exponential backoff, only to hosts in ingest.allowed_hosts), `action`: \"retrain\" with `model` and `retrain` (the options of retrain(...)). Firings are logged and recorded in voidx.alerts (status fired | webhook_failed | webhook_refused | resolved).",
    arguments: &[
        ("name", "rule name: letters, digits, underscores"),
        ("sql", "one query returning rows when something is wrong"),
        ("options_json", "schedule, repeat, webhook, action"),
    ],
    example: "SELECT * FROM create_alert('no_orders_last_hour', 'SELECT count(*) AS n FROM shop.orders WHERE order_ts > now() - INTERVAL ''1 hour'' HAVING count(*) = 0', '{\"every\": \"5m\", \"repeat\": \"4h\", \"webhook\": \"https://hooks.example/voidx\"}');",
};

const DROP_ALERT: SqlDoc = SqlDoc {
    name: "drop_alert",
    kind: "table",
    syntax: "drop_alert(name)",
    description: "Removes an alert rule from voidx.alert_rules (its firings stay in voidx.alerts). Returns whether it existed.",
    arguments: &[("name", "rule name")],
    example: "SELECT * FROM drop_alert('no_orders_last_hour');",
};

const RETRAIN: SqlDoc = SqlDoc {
    name: "retrain",
    kind: "table",
    syntax: "retrain(model, options_json)",
    description: "Champion/challenger retraining. Runs the production version's recorded training spec (query, target, options; deploy = never) on the rows before a time cutoff, scores champion and challenger on the holdout (the newest `holdout.fraction` (0.2) of rows by `holdout.column`), and deploys the challenger only when its metric is better by `margin` (default monitor.retrain_margin; relative for rmse/mae/log_loss/accuracy, absolute for r2/auc). The challenger stays in voidx.models (staging) either way. Returns the decision: both versions, both holdout scores, improvement, decision (promoted | kept) and the reason.",
    arguments: &[
        (
            "model",
            "model name (must have a production version trained with train)",
        ),
        ("options_json", "holdout {column, fraction}, margin"),
    ],
    example: "SELECT champion_version, challenger_version, champion_score, challenger_score, decision\nFROM retrain('revenue_predictor', '{\"holdout\": {\"column\": \"last_order_ts\", \"fraction\": 0.2}}');",
};

#[derive(Debug)]
struct MonitorFunction {
    monitor: Arc<Monitor>,
    kind: Kind,
}

/// The job, alert and retrain functions, each with its documentation.
pub(super) fn functions(monitor: &Arc<Monitor>) -> Vec<SqlFunction> {
    [
        (CREATE_JOB, Kind::CreateJob),
        (DROP_JOB, Kind::DropJob),
        (RUN_JOB, Kind::RunJob),
        (CREATE_ALERT, Kind::CreateAlert),
        (DROP_ALERT, Kind::DropAlert),
        (RETRAIN, Kind::Retrain),
    ]
    .into_iter()
    .map(|(doc, kind)| SqlFunction {
        doc,
        implementation: Implementation::Table(Arc::new(MonitorFunction {
            monitor: Arc::clone(monitor),
            kind,
        })),
    })
    .collect()
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor").finish_non_exhaustive()
    }
}

fn definition_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("schedule", DataType::Utf8, false),
        Field::new("next_run", ts(), true),
    ]))
}

fn dropped_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("dropped", DataType::Boolean, false),
    ]))
}

fn run_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("job", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("attempt", DataType::Int64, false),
        Field::new("rows", DataType::Int64, false),
        Field::new("error", DataType::Utf8, true),
        Field::new("output", DataType::Utf8, true),
    ]))
}

fn one(schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<Vec<RecordBatch>> {
    Ok(vec![RecordBatch::try_new(schema, columns)?])
}

fn text(v: Option<&str>) -> ArrayRef {
    Arc::new(StringArray::from(vec![v.map(str::to_string)]))
}

fn definition(name: &str, schedule: &str, next: Option<i64>) -> Result<Vec<RecordBatch>> {
    one(
        definition_schema(),
        vec![
            text(Some(name)),
            text(Some(schedule)),
            Arc::new(TimestampMillisecondArray::from(vec![next]).with_timezone("UTC")),
        ],
    )
}

impl TableFunctionImpl for MonitorFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        let doc = match self.kind {
            Kind::CreateJob => CREATE_JOB,
            Kind::DropJob => DROP_JOB,
            Kind::RunJob => RUN_JOB,
            Kind::CreateAlert => CREATE_ALERT,
            Kind::DropAlert => DROP_ALERT,
            Kind::Retrain => RETRAIN,
        };
        let arity = doc.arguments.len();
        if exprs.len() != arity {
            return Err(VoidxError::InvalidArgument(format!(
                "{} takes {arity} argument{} ({}). Help: {}",
                doc.name,
                if arity == 1 { "" } else { "s" },
                doc.syntax,
                doc.example
            ))
            .into());
        }
        let mut values = Vec::with_capacity(arity);
        for (i, (what, _)) in doc.arguments.iter().enumerate() {
            values.push(literal_str(exprs, i, doc.name, what)?);
        }
        let example = match self.kind {
            Kind::CreateJob => JOB_EXAMPLE,
            Kind::CreateAlert => ALERT_EXAMPLE,
            _ => RETRAIN_EXAMPLE,
        };
        if matches!(
            self.kind,
            Kind::CreateJob | Kind::CreateAlert | Kind::Retrain
        ) {
            // Malformed options fail at planning time, before any work.
            super::parse_options(&values[arity - 1], doc.name, example)?;
        }
        let schema = match self.kind {
            Kind::CreateJob | Kind::CreateAlert => definition_schema(),
            Kind::DropJob | Kind::DropAlert => dropped_schema(),
            Kind::RunJob => run_schema(),
            Kind::Retrain => super::retrain::schema(),
        };
        let (monitor, kind) = (Arc::clone(&self.monitor), self.kind);
        LazyTable::try_new(
            schema,
            Arc::new(move || {
                let (monitor, values) = (Arc::clone(&monitor), values.clone());
                async move { call(&monitor, kind, &values).await.map_err(Into::into) }.boxed()
            }),
        )
    }
}

async fn call(
    monitor: &Monitor,
    kind: Kind,
    v: &[String],
) -> crate::error::Result<Vec<RecordBatch>> {
    Ok(match kind {
        Kind::CreateJob => {
            let (def, next) = monitor.create_job(&v[0], &v[1], &v[2]).await?;
            definition(&def.name, &def.schedule, Some(next))?
        }
        Kind::CreateAlert => {
            let rule = monitor.create_alert(&v[0], &v[1], &v[2]).await?;
            let next = super::schedule::Schedule::parse_described(&rule.schedule)?
                .next_after(rule.created_at)
                .ok();
            definition(&rule.name, &rule.schedule, next)?
        }
        Kind::DropJob | Kind::DropAlert => {
            let dropped = if matches!(kind, Kind::DropJob) {
                monitor.drop_job(&v[0]).await?
            } else {
                monitor.drop_alert(&v[0]).await?
            };
            one(
                dropped_schema(),
                vec![
                    text(Some(&v[0])),
                    Arc::new(BooleanArray::from(vec![dropped])),
                ],
            )?
        }
        Kind::RunJob => {
            let run = monitor.run_job(&v[0], None, "manual").await?;
            one(
                run_schema(),
                vec![
                    text(Some(&run.job)),
                    text(Some(&run.status)),
                    Arc::new(Int64Array::from(vec![run.attempt])),
                    Arc::new(Int64Array::from(vec![run.rows])),
                    text(run.error.as_deref()),
                    text(run.output.as_deref()),
                ],
            )?
        }
        Kind::Retrain => {
            let runner = monitor.sql()?;
            let decision = super::retrain::retrain(monitor, runner.as_ref(), &v[0], &v[1]).await?;
            vec![super::retrain::batch(&decision)?]
        }
    })
}
