//! `drift_score` (the aggregate, from `voidx_udfs::monitor`) and
//! `drift_report(model, query [, options_json])`: one row per model feature
//! comparing the query's rows with the training reference.
//!
//! ```sql
//! SELECT feature, psi, ks_p_value, status
//! FROM drift_report('revenue_predictor', 'SELECT * FROM features.customer');
//! ```

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;
use datafusion::execution::SessionState;
use datafusion::prelude::SessionContext;
use futures::FutureExt;
use voidx_udfs::ml::MlError;
use voidx_udfs::model::{ModelSource, ResolvedModel};
use voidx_udfs::monitor::report::{FeatureDrift, Thresholds, feature_drift};
use voidx_udfs::{Documented, SqlDoc, SqlFunction};

use crate::config::MonitorConfig;
use crate::model::registry::{Registry, ml_error};
use crate::storage::functions::literal_str;
use crate::storage::lazy::LazyTable;

/// `drift_score` (an aggregate of `voidx_udfs::monitor`) and `drift_report`.
pub fn functions(registry: &Arc<Registry>, config: &MonitorConfig) -> Vec<SqlFunction> {
    let source: Arc<dyn ModelSource> = Arc::clone(registry) as Arc<dyn ModelSource>;
    let mut functions = voidx_udfs::monitor::functions(&source);
    functions.push(SqlFunction::table(DriftReport {
        registry: Arc::clone(registry),
        thresholds: Thresholds {
            warn: config.psi_warn,
            alert: config.psi_alert,
        },
    }));
    functions
}

/// A session to run a table function's query in: the caller's own, so its
/// settings and catalog apply.
pub fn session_of(args: &TableFunctionArgs, func: &str) -> Result<SessionContext> {
    let state = args
        .session()
        .as_any()
        .downcast_ref::<SessionState>()
        .ok_or_else(|| {
            datafusion::error::DataFusionError::Internal(format!(
                "{func}: the session is not a DataFusion SessionState"
            ))
        })?;
    Ok(SessionContext::new_with_state(state.clone()))
}

pub fn invalid(message: String) -> datafusion::error::DataFusionError {
    ml_error(MlError::InvalidInput(message)).into()
}

#[derive(Debug)]
pub struct DriftReport {
    registry: Arc<Registry>,
    thresholds: Thresholds,
}

impl Documented for DriftReport {
    const DOC: SqlDoc = SqlDoc {
        name: "drift_report",
        kind: "table",
        syntax: "drift_report(model, query [, options_json])",
        description: "One row per feature of the model's production version (or a pinned 'name@version'), comparing the rows of `query` with the training reference: `psi` (as drift_score: decile bins + a NULL bin, shares clamped to ≥ 1e-4), `ks_statistic` and `ks_p_value` (Kolmogorov–Smirnov; the reference keeps 101 training quantiles, not its rows, so its CDF is their linear interpolation — the statistic is within about ±0.01 of the exact two-sample one — and the p-value is the asymptotic two-sample one with the reference's non-NULL training rows as the first sample), reference and current mean and standard deviation, `mean_shift_std` (the mean's move in reference standard deviations), NULL rates and their change, `rows`, and `status`: `ok`, `warn` (psi ≥ psi_warn, or no rows) or `alert` (psi ≥ psi_alert). Thresholds come from the server's [monitor] config (0.1 / 0.25) and can be overridden per call: {\"psi_warn\": 0.2, \"psi_alert\": 0.5}. Every model feature must be a numeric or boolean column of the query; other columns are ignored.",
        arguments: &[
            ("model", "'name' (production version) or 'name@version'"),
            (
                "query",
                "SQL whose rows are the current data (features as columns)",
            ),
            (
                "options_json",
                "optional: {\"psi_warn\": x, \"psi_alert\": y}",
            ),
        ],
        example: "SELECT feature, psi, ks_statistic, ks_p_value, mean_shift_std, status\nFROM drift_report('revenue_predictor', 'SELECT * FROM features.customer WHERE day = current_date');",
    };
}

impl DriftReport {
    pub fn schema() -> SchemaRef {
        let f = |name: &str, t: DataType| Field::new(name, t, true);
        Arc::new(Schema::new(vec![
            Field::new("model", DataType::Utf8, false),
            Field::new("version", DataType::Int64, false),
            Field::new("feature", DataType::Utf8, false),
            Field::new("rows", DataType::Int64, false),
            f("psi", DataType::Float64),
            f("ks_statistic", DataType::Float64),
            f("ks_p_value", DataType::Float64),
            f("reference_mean", DataType::Float64),
            f("current_mean", DataType::Float64),
            f("reference_std", DataType::Float64),
            f("current_std", DataType::Float64),
            f("mean_shift_std", DataType::Float64),
            f("reference_null_rate", DataType::Float64),
            f("current_null_rate", DataType::Float64),
            f("null_rate_change", DataType::Float64),
            Field::new("status", DataType::Utf8, false),
        ]))
    }
}

/// `{"psi_warn": x, "psi_alert": y}` over the configured defaults.
fn thresholds(text: &str, defaults: Thresholds) -> Result<Thresholds> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        invalid(format!(
            "drift_report: options are not JSON ({e}). Help: '{{\"psi_warn\": 0.1, \"psi_alert\": 0.25}}'"
        ))
    })?;
    let Some(object) = value.as_object() else {
        return Err(invalid(
            "drift_report: options must be a JSON object. Help: '{\"psi_warn\": 0.1, \"psi_alert\": 0.25}'".into(),
        ));
    };
    let mut t = defaults;
    for (key, v) in object {
        let number = v.as_f64().filter(|x| x.is_finite() && *x >= 0.0);
        let slot = match key.as_str() {
            "psi_warn" => &mut t.warn,
            "psi_alert" => &mut t.alert,
            other => {
                return Err(invalid(format!(
                    "drift_report: unknown option '{other}'. Help: the options are psi_warn and psi_alert"
                )));
            }
        };
        *slot = number.ok_or_else(|| {
            invalid(format!(
                "drift_report: {key} must be a non-negative number, got {v}"
            ))
        })?;
    }
    if t.warn > t.alert {
        return Err(invalid(format!(
            "drift_report: psi_warn ({}) is above psi_alert ({}). Help: warn comes first, e.g. {{\"psi_warn\": 0.1, \"psi_alert\": 0.25}}",
            t.warn, t.alert
        )));
    }
    Ok(t)
}

impl TableFunctionImpl for DriftReport {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if !(2..=3).contains(&exprs.len()) {
            return Err(invalid(
                "drift_report takes (model, query [, options_json]). Help: SELECT * FROM drift_report('revenue_predictor', 'SELECT * FROM features.customer')".into(),
            ));
        }
        let spec = literal_str(exprs, 0, "drift_report", "the model name")?;
        let query = literal_str(exprs, 1, "drift_report", "the query")?;
        let thresholds = match exprs.len() {
            3 => thresholds(
                &literal_str(exprs, 2, "drift_report", "the options (JSON text)")?,
                self.thresholds,
            )?,
            _ => self.thresholds,
        };
        // Model mistakes surface at planning time, before the query runs.
        let model = self.registry.resolve(&spec).map_err(ml_error)?;
        if model.artifact.reference.is_empty() {
            voidx_udfs::monitor::feature_reference(&model, "").map_err(ml_error)?;
        }
        let ctx = session_of(&args, "drift_report")?;
        let job = Arc::new((model, query, thresholds, ctx));
        LazyTable::try_new(
            Self::schema(),
            Arc::new(move || {
                let job = Arc::clone(&job);
                async move {
                    let (model, query, thresholds, ctx) = job.as_ref();
                    let batches = ctx.sql(query).await?.collect().await?;
                    let (model, thresholds) = (model.clone(), *thresholds);
                    // Sorting every feature for KS is CPU work, off the async threads.
                    let report = tokio::task::spawn_blocking(move || {
                        report_batch(&model, &batches, thresholds)
                    })
                    .await
                    .map_err(|e| invalid(format!("drift_report stopped: {e}")))??;
                    Ok(vec![report])
                }
                .boxed()
            }),
        )
    }
}

/// The query's column `name` as DOUBLE, or an error saying what is wrong.
fn feature_column(
    model: &ResolvedModel,
    batches: &[RecordBatch],
    schema: &Schema,
    name: &str,
) -> Result<Float64Array> {
    let Ok(index) = schema.index_of(name) else {
        let features: Vec<&str> = model
            .artifact
            .reference
            .iter()
            .map(|r| r.feature.as_str())
            .collect();
        return Err(invalid(format!(
            "drift_report: the query has no column '{name}', a feature of model '{}' version {}. Help: select every feature: {}",
            model.name,
            model.version,
            features.join(", ")
        )));
    };
    let t = schema.field(index).data_type();
    if !(t.is_numeric() || matches!(t, DataType::Boolean | DataType::Null)) {
        return Err(invalid(format!(
            "drift_report: column '{name}' has type {t}; drift is measured on numeric features. Help: cast it, e.g. CAST({name} AS DOUBLE) AS {name}"
        )));
    }
    let mut values: Vec<Option<f64>> = Vec::new();
    for b in batches {
        let column = arrow::compute::cast(b.column(index), &DataType::Float64)?;
        let column = column
            .as_any()
            .downcast_ref::<Float64Array>()
            .ok_or_else(|| invalid(format!("drift_report: cannot read '{name}' as DOUBLE")))?;
        values.extend(column.iter());
    }
    Ok(Float64Array::from(values))
}

fn report_batch(
    model: &ResolvedModel,
    batches: &[RecordBatch],
    thresholds: Thresholds,
) -> Result<RecordBatch> {
    let schema = match batches.first() {
        Some(b) => b.schema(),
        None => Arc::new(Schema::empty()),
    };
    let references = &model.artifact.reference;
    let mut rows: Vec<FeatureDrift> = Vec::with_capacity(references.len());
    for r in references {
        // An empty answer has no schema to check; every feature has 0 rows.
        let values = if batches.is_empty() {
            Float64Array::from(Vec::<f64>::new())
        } else {
            feature_column(model, batches, &schema, &r.feature)?
        };
        rows.push(feature_drift(r, &values));
    }
    let opt = |x: f64| (!x.is_nan()).then_some(x);
    let col = |f: &dyn Fn(usize) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from(
            (0..rows.len()).map(|i| opt(f(i))).collect::<Vec<_>>(),
        ))
    };
    let n = rows.len();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![model.name.as_str(); n])),
        Arc::new(Int64Array::from(vec![model.version; n])),
        Arc::new(StringArray::from(
            references
                .iter()
                .map(|r| r.feature.as_str())
                .collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            rows.iter().map(|d| d.rows as i64).collect::<Vec<_>>(),
        )),
        col(&|i| rows[i].psi),
        col(&|i| rows[i].ks_statistic),
        col(&|i| rows[i].ks_p_value),
        col(&|i| references[i].mean),
        col(&|i| rows[i].current_mean),
        col(&|i| references[i].std),
        col(&|i| rows[i].current_std),
        col(&|i| rows[i].mean_shift_std),
        col(&|i| references[i].null_fraction),
        col(&|i| rows[i].current_null_rate),
        col(&|i| rows[i].current_null_rate - references[i].null_fraction),
        Arc::new(StringArray::from(
            rows.iter()
                .map(|d| thresholds.status(d.psi))
                .collect::<Vec<_>>(),
        )),
    ];
    Ok(RecordBatch::try_new(DriftReport::schema(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_override_the_thresholds() {
        let d = Thresholds {
            warn: 0.1,
            alert: 0.25,
        };
        assert_eq!(thresholds("{}", d).expect("ok"), d);
        let t = thresholds(r#"{"psi_warn": 0.2, "psi_alert": 0.5}"#, d).expect("ok");
        assert_eq!((t.warn, t.alert), (0.2, 0.5));
        for bad in [
            "[1]",
            "nope",
            r#"{"psi_wrn": 1}"#,
            r#"{"psi_warn": -1}"#,
            r#"{"psi_warn": 0.5}"#,
        ] {
            let e = thresholds(bad, d).expect_err(bad).to_string();
            assert!(e.contains("drift_report"), "{e}");
        }
    }
}
