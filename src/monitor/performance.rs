//! `model_performance(model, actuals_query, options_json)`: joins the
//! prediction log (`voidx.predictions`) with actual outcomes and scores
//! every version per period, over the whole range, and against the other
//! versions (A/B with a bootstrap confidence interval).
//!
//! ```sql
//! SELECT scope, version, period, rows, rmse, difference, ci_lower, ci_upper
//! FROM model_performance('revenue_predictor', 'SELECT customer_id, revenue FROM sales.actuals',
//!                        '{"label": "revenue", "period": "week"}');
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;
use futures::FutureExt;
use serde::Deserialize;
use voidx_udfs::ml::MlError;
use voidx_udfs::ml::metrics::Metric;
use voidx_udfs::monitor::bootstrap::{Sample, difference_ci};
use voidx_udfs::{Documented, SqlDoc, SqlFunction};

use super::drift::{invalid, session_of};
use crate::model::registry::{Registry, ml_error};
use crate::storage::functions::literal_str;
use crate::storage::lazy::LazyTable;

#[derive(Debug)]
pub struct ModelPerformance {
    pub registry: Arc<Registry>,
}

/// `model_performance`, with its documentation.
pub fn function(registry: &Arc<Registry>) -> SqlFunction {
    SqlFunction::table(ModelPerformance {
        registry: Arc::clone(registry),
    })
}

impl Documented for ModelPerformance {
    const DOC: SqlDoc = SqlDoc {
        name: "model_performance",
        kind: "table",
        syntax: "model_performance(model, actuals_query, options_json)",
        description: "Scores the model's logged predictions (voidx.predictions, written by the REST shim) against actual outcomes. Each logged prediction whose `log_key` equals the actuals' `key` (compared as text) is paired with that row's `label`; rows with a NULL label are skipped. Rows of the answer, told apart by `scope`: 'period' — one per version and period (`period` = start of the day or ISO week, UTC); 'version' — one per version over the whole range; 'ab' — one per version other than the baseline (the production version when it has logged predictions, else the lowest version), with `compared_to` = the baseline, `metric`, `difference` = metric(version) − metric(baseline) and a percentile bootstrap interval (`ci_lower`, `ci_upper`; each version's pairs resampled separately, seeded). Metrics follow the version's task: regression → rmse, mae, mape (mean |error| / |actual| over non-zero actuals); classification → auc, log_loss, accuracy (prediction = probability of class 1, threshold 0.5); the other task's columns are NULL. Options: `label` (required: the actual-outcome column), `key` (actuals column, default customer_id), `log_key` (customer_id | request_id, default customer_id), `period` (day | week, default day), `from` / `to` (timestamps; ts >= from and ts < to), `metric` (for 'ab'; default rmse or auc), `bootstrap` (resamples, default 1000; 0 = no interval), `confidence` (0.95), `seed` (42). A model with no matching predictions gives no rows.",
        arguments: &[
            (
                "model",
                "'name' (all its versions) or 'name@version' (one version)",
            ),
            (
                "actuals_query",
                "SQL whose rows hold the actual outcomes and the join key",
            ),
            (
                "options_json",
                "JSON object of options, at least {\"label\": \"column\"}",
            ),
        ],
        example: "SELECT scope, version, period, rows, rmse, mae, compared_to, difference, ci_lower, ci_upper\nFROM model_performance('revenue_predictor',\n  'SELECT customer_id, revenue FROM sales.revenue_30d',\n  '{\"label\": \"revenue\", \"period\": \"week\", \"bootstrap\": 1000}')\nORDER BY scope, version, period;",
    };
}

impl ModelPerformance {
    pub fn schema() -> SchemaRef {
        let f = |name: &str, t: DataType| Field::new(name, t, true);
        Arc::new(Schema::new(vec![
            Field::new("scope", DataType::Utf8, false),
            Field::new("model", DataType::Utf8, false),
            Field::new("version", DataType::Int64, false),
            f(
                "period",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            ),
            Field::new("rows", DataType::Int64, false),
            f("rmse", DataType::Float64),
            f("mae", DataType::Float64),
            f("mape", DataType::Float64),
            f("auc", DataType::Float64),
            f("log_loss", DataType::Float64),
            f("accuracy", DataType::Float64),
            f("compared_to", DataType::Int64),
            f("metric", DataType::Utf8),
            f("difference", DataType::Float64),
            f("ci_lower", DataType::Float64),
            f("ci_upper", DataType::Float64),
        ]))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Options {
    label: Option<String>,
    #[serde(default = "default_key")]
    key: String,
    #[serde(default = "default_key")]
    log_key: String,
    #[serde(default = "default_period")]
    period: String,
    from: Option<String>,
    to: Option<String>,
    metric: Option<Metric>,
    #[serde(default = "default_bootstrap")]
    bootstrap: usize,
    #[serde(default = "default_confidence")]
    confidence: f64,
    #[serde(default = "default_seed")]
    seed: u64,
}

fn default_key() -> String {
    "customer_id".into()
}
fn default_period() -> String {
    "day".into()
}
fn default_bootstrap() -> usize {
    1000
}
fn default_confidence() -> f64 {
    0.95
}
fn default_seed() -> u64 {
    42
}

/// The most bootstrap resamples one call may ask for.
const MAX_BOOTSTRAP: usize = 100_000;

const OPTIONS_HELP: &str = "Help: '{\"label\": \"revenue\", \"key\": \"customer_id\", \"period\": \"day\"}'; options: label, key, log_key, period, from, to, metric, bootstrap, confidence, seed";

impl Options {
    pub(crate) fn parse(text: &str) -> Result<(Options, String)> {
        let o: Options = serde_json::from_str(text).map_err(|e| {
            invalid(format!(
                "model_performance: bad options ({e}). {OPTIONS_HELP}"
            ))
        })?;
        let Some(label) = o.label.clone() else {
            return Err(invalid(format!(
                "model_performance: the options must name the actual-outcome column as \"label\". {OPTIONS_HELP}"
            )));
        };
        if !matches!(o.period.as_str(), "day" | "week") {
            return Err(invalid(format!(
                "model_performance: period must be day or week, got '{}'",
                o.period
            )));
        }
        if !matches!(o.log_key.as_str(), "customer_id" | "request_id") {
            return Err(invalid(format!(
                "model_performance: log_key must be a text column of voidx.predictions: customer_id or request_id, got '{}'",
                o.log_key
            )));
        }
        // Each resample is a pass over the pairs, and the differences are
        // held in memory: an unbounded count is an allocation the process
        // cannot survive (an abort, not a panic the statement guard catches).
        if o.bootstrap > MAX_BOOTSTRAP {
            return Err(invalid(format!(
                "model_performance: bootstrap must be at most {MAX_BOOTSTRAP} resamples, got {}. Help: 1000 gives a stable 95 % interval",
                o.bootstrap
            )));
        }
        if !(o.confidence > 0.0 && o.confidence < 1.0) {
            return Err(invalid(format!(
                "model_performance: confidence must lie between 0 and 1, got {}",
                o.confidence
            )));
        }
        Ok((o, label))
    }
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn text(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The join of the prediction log with the actuals, one row per pair.
fn join_sql(name: &str, version: Option<i64>, actuals: &str, o: &Options, label: &str) -> String {
    let mut sql = format!(
        "SELECT p.version AS version, date_trunc({period}, p.ts) AS period, \
         p.prediction AS prediction, CAST(a.{label} AS DOUBLE) AS actual \
         FROM voidx.predictions p JOIN ({actuals}) a ON p.{log_key} = CAST(a.{key} AS VARCHAR) \
         WHERE p.model = {name} AND a.{label} IS NOT NULL",
        period = text(&o.period),
        label = ident(label),
        log_key = ident(&o.log_key),
        key = ident(&o.key),
        name = text(name),
    );
    if let Some(v) = version {
        sql.push_str(&format!(" AND p.version = {v}"));
    }
    // Compared as timestamps, never as integers: the log's unit (ms as
    // written, µs as Delta reads it back) is not the literal's (ns).
    let bound = |t: &str| format!("CAST({} AS TIMESTAMP)", text(t));
    if let Some(from) = &o.from {
        sql.push_str(&format!(" AND CAST(p.ts AS TIMESTAMP) >= {}", bound(from)));
    }
    if let Some(to) = &o.to {
        sql.push_str(&format!(" AND CAST(p.ts AS TIMESTAMP) < {}", bound(to)));
    }
    sql
}

impl TableFunctionImpl for ModelPerformance {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if exprs.len() != 3 {
            return Err(invalid(
                "model_performance takes (model, actuals_query, options_json). Help: SELECT * FROM model_performance('revenue_predictor', 'SELECT customer_id, revenue FROM actuals', '{\"label\": \"revenue\"}')".into(),
            ));
        }
        let spec = literal_str(exprs, 0, "model_performance", "the model name")?;
        let actuals = literal_str(exprs, 1, "model_performance", "the actuals query")?;
        let options_text = literal_str(exprs, 2, "model_performance", "the options (JSON text)")?;
        let (options, label) = Options::parse(&options_text)?;
        let (name, version) = match spec.split_once('@') {
            Some((n, v)) => (
                n.trim().to_string(),
                Some(v.trim().parse::<i64>().map_err(|_| {
                    invalid(format!(
                        "'{spec}' is not a model reference. Help: use 'name' or 'name@version'"
                    ))
                })?),
            ),
            None => (spec.trim().to_string(), None),
        };
        let versions: Vec<_> = self
            .registry
            .versions()
            .into_iter()
            .filter(|v| v.name == name)
            .collect();
        if versions.is_empty() {
            return Err(ml_error(MlError::UnknownModel(format!(
                "model '{name}' does not exist. Help: SELECT DISTINCT name FROM voidx.models lists the models"
            )))
            .into());
        }
        if let Some(v) = version
            && !versions.iter().any(|m| m.version == v)
        {
            return Err(ml_error(MlError::UnknownModel(format!(
                "model '{name}' has no version {v}. Help: SELECT version, stage FROM voidx.models WHERE name = '{name}'"
            )))
            .into());
        }
        let tasks: BTreeMap<i64, Metric> = versions
            .iter()
            .map(|v| {
                let default = if v.task == "classification" {
                    Metric::Auc
                } else {
                    Metric::Rmse
                };
                (v.version, default)
            })
            .collect();
        let production = self.registry.production(&name);
        let sql = join_sql(&name, version, &actuals, &options, &label);
        let ctx = session_of(&args, "model_performance")?;
        let job = Arc::new((ctx, sql, name, tasks, production, options));
        LazyTable::try_new(
            Self::schema(),
            Arc::new(move || {
                let job = Arc::clone(&job);
                async move {
                    let (ctx, sql, name, tasks, production, options) = job.as_ref();
                    let batches = ctx.sql(sql).await?.collect().await?;
                    let pairs = Pairs::from_batches(&batches)?;
                    let (name, tasks, production, options) =
                        (name.clone(), tasks.clone(), *production, options.clone());
                    let out = tokio::task::spawn_blocking(move || {
                        score(&name, &pairs, &tasks, production, &options)
                    })
                    .await
                    .map_err(|e| invalid(format!("model_performance stopped: {e}")))??;
                    Ok(vec![out])
                }
                .boxed()
            }),
        )
    }
}

/// (version, period start in ms) → (actuals, predictions).
#[derive(Debug, Default)]
struct Pairs(BTreeMap<(i64, i64), (Vec<f64>, Vec<f64>)>);

impl Pairs {
    fn from_batches(batches: &[RecordBatch]) -> Result<Pairs> {
        let mut out = Pairs::default();
        for b in batches {
            let version = b.column(0).as_primitive::<Int64Type>();
            // whatever unit date_trunc kept, the output column is milliseconds
            let period = arrow::compute::cast(
                b.column(1),
                &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            )?;
            let period = arrow::compute::cast(&period, &DataType::Int64)?;
            let period = period.as_primitive::<Int64Type>();
            let prediction = b.column(2).as_primitive::<Float64Type>();
            let actual = b.column(3).as_primitive::<Float64Type>();
            for i in 0..b.num_rows() {
                if actual.is_null(i) || prediction.is_null(i) {
                    continue;
                }
                let entry = out
                    .0
                    .entry((version.value(i), period.value(i)))
                    .or_default();
                entry.0.push(actual.value(i));
                entry.1.push(prediction.value(i));
            }
        }
        Ok(out)
    }
}

/// Mean |y − p| / |y| over the non-zero actuals.
fn mape(y: &[f64], p: &[f64]) -> f64 {
    let (sum, n) = y
        .iter()
        .zip(p)
        .filter(|(a, _)| **a != 0.0)
        .fold((0.0, 0usize), |(s, n), (a, b)| {
            (s + ((a - b) / a).abs(), n + 1)
        });
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

/// The metric columns (rmse, mae, mape, auc, log_loss, accuracy) of one group.
fn metrics(classification: bool, y: &[f64], p: &[f64]) -> [Option<f64>; 6] {
    let m = |metric: Metric| Some(metric.compute(y, p));
    let finite = |x: f64| (!x.is_nan()).then_some(x);
    if classification {
        [
            None,
            None,
            None,
            m(Metric::Auc),
            m(Metric::LogLoss),
            m(Metric::Accuracy),
        ]
    } else {
        [
            m(Metric::Rmse),
            m(Metric::Mae),
            finite(mape(y, p)),
            None,
            None,
            None,
        ]
    }
}

#[derive(Default)]
struct Rows {
    scope: Vec<&'static str>,
    version: Vec<i64>,
    period: Vec<Option<i64>>,
    rows: Vec<i64>,
    metrics: [Vec<Option<f64>>; 6],
    compared_to: Vec<Option<i64>>,
    metric: Vec<Option<&'static str>>,
    difference: Vec<Option<f64>>,
    ci: (Vec<Option<f64>>, Vec<Option<f64>>),
}

impl Rows {
    fn push(&mut self, scope: &'static str, version: i64, period: Option<i64>, rows: usize) {
        self.scope.push(scope);
        self.version.push(version);
        self.period.push(period);
        self.rows.push(rows as i64);
    }

    fn push_metrics(&mut self, values: [Option<f64>; 6]) {
        for (column, v) in self.metrics.iter_mut().zip(values) {
            column.push(v);
        }
        self.compared_to.push(None);
        self.metric.push(None);
        self.difference.push(None);
        self.ci.0.push(None);
        self.ci.1.push(None);
    }
}

fn score(
    name: &str,
    pairs: &Pairs,
    tasks: &BTreeMap<i64, Metric>,
    production: Option<i64>,
    options: &Options,
) -> Result<RecordBatch> {
    let classification = |v: i64| tasks.get(&v).is_some_and(|m| m.is_classification());
    let mut out = Rows::default();
    let mut whole: BTreeMap<i64, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for ((version, period), (y, p)) in &pairs.0 {
        out.push("period", *version, Some(*period), y.len());
        out.push_metrics(metrics(classification(*version), y, p));
        let all = whole.entry(*version).or_default();
        all.0.extend_from_slice(y);
        all.1.extend_from_slice(p);
    }
    for (version, (y, p)) in &whole {
        out.push("version", *version, None, y.len());
        out.push_metrics(metrics(classification(*version), y, p));
    }
    let baseline = production
        .filter(|v| whole.contains_key(v))
        .or_else(|| whole.keys().next().copied());
    if let Some(base) = baseline {
        let metric = match options.metric {
            Some(m) => m,
            None => tasks.get(&base).copied().unwrap_or(Metric::Rmse),
        };
        if metric.is_classification() != classification(base) {
            return Err(invalid(format!(
                "model_performance: metric {} does not fit a {} model. Help: regression: rmse, mae, r2; classification: auc, log_loss, accuracy",
                metric.as_str(),
                if classification(base) {
                    "classification"
                } else {
                    "regression"
                }
            )));
        }
        let (yb, pb) = &whole[&base];
        let base_sample = Sample {
            actual: yb,
            predicted: pb,
        };
        for (version, (y, p)) in whole.iter().filter(|(v, _)| **v != base) {
            let sample = Sample {
                actual: y,
                predicted: p,
            };
            let f = |y: &[f64], p: &[f64]| metric.compute(y, p);
            let ci = difference_ci(
                base_sample,
                sample,
                f,
                options.bootstrap,
                options.seed,
                options.confidence,
            );
            out.push("ab", *version, None, y.len());
            for column in out.metrics.iter_mut() {
                column.push(None);
            }
            out.compared_to.push(Some(base));
            out.metric.push(Some(metric.as_str()));
            out.difference.push(Some(f(y, p) - f(yb, pb)));
            out.ci.0.push(ci.map(|c| c.0));
            out.ci.1.push(ci.map(|c| c.1));
        }
    }
    let n = out.scope.len();
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(out.scope)),
        Arc::new(StringArray::from(vec![name; n])),
        Arc::new(Int64Array::from(out.version)),
        Arc::new(TimestampMillisecondArray::from(out.period).with_timezone("UTC")),
        Arc::new(Int64Array::from(out.rows)),
    ];
    for column in out.metrics {
        columns.push(Arc::new(Float64Array::from(column)));
    }
    columns.push(Arc::new(Int64Array::from(out.compared_to)));
    columns.push(Arc::new(StringArray::from(out.metric)));
    columns.push(Arc::new(Float64Array::from(out.difference)));
    columns.push(Arc::new(Float64Array::from(out.ci.0)));
    columns.push(Arc::new(Float64Array::from(out.ci.1)));
    Ok(RecordBatch::try_new(ModelPerformance::schema(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(text: &str) -> Options {
        Options::parse(text).expect("valid").0
    }

    #[test]
    fn options_are_checked() {
        let o = options(r#"{"label": "y"}"#);
        assert_eq!(
            (o.key.as_str(), o.period.as_str(), o.bootstrap),
            ("customer_id", "day", 1000)
        );
        for bad in [
            "{}",
            r#"{"label": "y", "period": "month"}"#,
            r#"{"label": "y", "log_key": "features"}"#,
            r#"{"label": "y", "confidence": 1.5}"#,
            r#"{"label": "y", "bootstrap": 18446744073709551615}"#,
            r#"{"label": "y", "nope": 1}"#,
            r#"{"label": "y", "metric": "rsme"}"#,
        ] {
            let e = Options::parse(bad).expect_err(bad).to_string();
            assert!(e.contains("model_performance"), "{e}");
        }
        let sql = join_sql(
            "m'x",
            Some(2),
            "SELECT 1",
            &options(r#"{"label": "a\"b", "from": "2026-01-01"}"#),
            "a\"b",
        );
        assert!(
            sql.contains("p.model = 'm''x'") && sql.contains("a.\"a\"\"b\""),
            "{sql}"
        );
        assert!(
            sql.contains("p.version = 2") && sql.contains("'2026-01-01'"),
            "{sql}"
        );
    }

    #[test]
    fn scores_by_period_version_and_ab() {
        let mut pairs = Pairs::default();
        // version 1: errors 1, -1 on day 0 and 2 on day 1; version 2: exact
        pairs.0.insert((1, 0), (vec![10.0, 20.0], vec![11.0, 19.0]));
        pairs.0.insert((1, 86_400_000), (vec![4.0], vec![6.0]));
        pairs
            .0
            .insert((2, 0), (vec![1.0, 2.0, 3.0], vec![1.0, 2.0, 3.0]));
        let tasks = BTreeMap::from([(1, Metric::Rmse), (2, Metric::Rmse)]);
        let o = options(r#"{"label": "y", "bootstrap": 200}"#);
        let b = score("m", &pairs, &tasks, Some(1), &o).expect("scored");
        assert_eq!(b.num_rows(), 3 + 2 + 1);
        let scope = b.column(0).as_string::<i32>();
        let rmse = b.column(5).as_primitive::<Float64Type>();
        let mape_col = b.column(7).as_primitive::<Float64Type>();
        assert_eq!(scope.value(0), "period");
        assert_eq!(rmse.value(0), 1.0);
        assert_eq!(rmse.value(1), 2.0);
        assert_eq!(scope.value(3), "version");
        assert!((rmse.value(3) - 2.0f64.sqrt()).abs() < 1e-12);
        assert!((mape_col.value(3) - (0.1 + 0.05 + 0.5) / 3.0).abs() < 1e-12);
        assert_eq!(scope.value(5), "ab");
        let diff = b.column(13).as_primitive::<Float64Type>().value(5);
        assert!((diff + 2.0f64.sqrt()).abs() < 1e-12);
        assert!(b.column(4).as_primitive::<Int64Type>().value(5) == 3);
        // a classification metric on a regression model is refused
        let o = options(r#"{"label": "y", "metric": "auc"}"#);
        assert!(score("m", &pairs, &tasks, Some(1), &o).is_err());
    }
}
