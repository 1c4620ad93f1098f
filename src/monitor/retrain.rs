//! `retrain(model [, options])`: champion/challenger on a recent holdout.
//!
//! 1. The production version (champion) recorded its training spec
//!    (query, target, options). The spec runs again on today's data.
//! 2. The holdout is the newest `fraction` of rows by `holdout.column`
//!    (all rows whose value is at or after the cutoff).
//! 3. The challenger trains on the rows *before* the cutoff only, with
//!    `deploy: never`. Training on the holdout too would score it on rows
//!    it has seen while the champion is scored on (mostly) unseen rows, and
//!    a challenger would win every comparison. The price: the challenger
//!    does not learn from the newest `fraction` of rows until the next
//!    retrain (which again holds out only the newest rows).
//! 4. Both versions predict the holdout; the model's metric decides. The
//!    challenger is deployed only when better by `margin` (relative for
//!    rmse/mae/log_loss/accuracy, absolute for r2/auc).
//!
//! The challenger records its filtered query as
//! `SELECT * FROM (<spec query>) AS retrain_base WHERE "col" < cutoff`;
//! the next retrain strips that wrapper and starts again from the spec.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::Serialize;
use voidx_udfs::ml::metrics::Metric;

use super::{Monitor, SqlRunner, parse_options};
use crate::error::{Result, VoidxError};

const WRAP_HEAD: &str = "SELECT * FROM (";
const WRAP_MARK: &str = ") AS retrain_base WHERE ";

pub const RETRAIN_EXAMPLE: &str =
    "'{\"holdout\": {\"column\": \"order_date\", \"fraction\": 0.2}, \"margin\": 0.01}'";

/// The answer of `retrain`: one decision.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub model: String,
    pub champion_version: i64,
    pub challenger_version: i64,
    pub metric: String,
    pub champion_score: f64,
    pub challenger_score: f64,
    /// Challenger over champion in the metric's good direction.
    pub improvement: f64,
    pub margin: f64,
    pub holdout_column: String,
    pub cutoff: String,
    pub holdout_rows: i64,
    pub train_rows: i64,
    /// `promoted` or `kept`.
    pub decision: String,
    pub reason: String,
    pub production_version: i64,
}

pub fn schema() -> SchemaRef {
    let f = Field::new;
    Arc::new(Schema::new(vec![
        f("model", DataType::Utf8, false),
        f("champion_version", DataType::Int64, false),
        f("challenger_version", DataType::Int64, false),
        f("metric", DataType::Utf8, false),
        f("champion_score", DataType::Float64, false),
        f("challenger_score", DataType::Float64, false),
        f("improvement", DataType::Float64, false),
        f("margin", DataType::Float64, false),
        f("holdout_column", DataType::Utf8, false),
        f("cutoff", DataType::Utf8, false),
        f("holdout_rows", DataType::Int64, false),
        f("train_rows", DataType::Int64, false),
        f("decision", DataType::Utf8, false),
        f("reason", DataType::Utf8, false),
        f("production_version", DataType::Int64, false),
    ]))
}

pub fn batch(d: &Decision) -> Result<RecordBatch> {
    let s = |v: &str| Arc::new(StringArray::from(vec![v.to_string()])) as ArrayRef;
    let i = |v: i64| Arc::new(Int64Array::from(vec![v])) as ArrayRef;
    let x = |v: f64| Arc::new(Float64Array::from(vec![v])) as ArrayRef;
    Ok(RecordBatch::try_new(
        schema(),
        vec![
            s(&d.model),
            i(d.champion_version),
            i(d.challenger_version),
            s(&d.metric),
            x(d.champion_score),
            x(d.challenger_score),
            x(d.improvement),
            x(d.margin),
            s(&d.holdout_column),
            s(&d.cutoff),
            i(d.holdout_rows),
            i(d.train_rows),
            s(&d.decision),
            s(&d.reason),
            i(d.production_version),
        ],
    )?)
}

/// The spec query without a previous retrain's cutoff filter.
fn base_query(query: &str) -> &str {
    match (query.strip_prefix(WRAP_HEAD), query.rfind(WRAP_MARK)) {
        (Some(_), Some(end)) if end >= WRAP_HEAD.len() => &query[WRAP_HEAD.len()..end],
        _ => query,
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_str(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

async fn collect(runner: &dyn SqlRunner, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(runner
        .run_sql(sql)
        .await?
        .into_iter()
        .last()
        .map(|r| r.batches)
        .unwrap_or_default())
}

fn int_at(batches: &[RecordBatch], column: &str) -> Option<i64> {
    let batch = batches.iter().find(|b| b.num_rows() > 0)?;
    let c = arrow::compute::cast(batch.column_by_name(column)?, &DataType::Int64).ok()?;
    let c = c.as_any().downcast_ref::<Int64Array>()?;
    (!c.is_null(0)).then(|| c.value(0))
}

pub async fn retrain(
    monitor: &Monitor,
    runner: &dyn SqlRunner,
    model: &str,
    options_text: &str,
) -> Result<Decision> {
    let options = parse_options(options_text, "retrain", RETRAIN_EXAMPLE)?;
    let holdout = options.get("holdout").ok_or_else(|| {
        VoidxError::InvalidArgument(format!(
            "retrain needs a time-based holdout. Help: {RETRAIN_EXAMPLE}"
        ))
    })?;
    let column = holdout
        .get("column")
        .and_then(|c| c.as_str())
        .ok_or_else(|| {
            VoidxError::InvalidArgument(format!(
                "retrain: holdout.column names the time column. Help: {RETRAIN_EXAMPLE}"
            ))
        })?
        .to_string();
    let fraction = holdout
        .get("fraction")
        .and_then(|f| f.as_f64())
        .unwrap_or(0.2);
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(VoidxError::InvalidArgument(
            "retrain: holdout.fraction must be between 0 and 1 (exclusive), e.g. 0.2".into(),
        ));
    }
    let margin = options
        .get("margin")
        .and_then(|m| m.as_f64())
        .unwrap_or(monitor.config.retrain_margin);

    let registry = &monitor.registry;
    let champion_version = registry.production(model).ok_or_else(|| {
        VoidxError::NotDeployed(format!(
            "model '{model}' has no production version to retrain. Help: SELECT name, version, stage FROM voidx.models WHERE name = '{model}'"
        ))
    })?;
    let champion = registry
        .version(model, champion_version)
        .ok_or_else(|| VoidxError::Internal(format!("{model}@{champion_version} is missing")))?;
    let (Some(spec_query), Some(target)) = (champion.query.clone(), champion.target.clone()) else {
        return Err(VoidxError::InvalidArgument(format!(
            "{model}@{champion_version} was imported, not trained, so there is no training spec to run again. Help: train a version with train(...) first"
        )));
    };
    let metric: Metric = serde_json::from_value(serde_json::Value::String(champion.metric.clone()))
        .map_err(|_| VoidxError::Internal(format!("unknown metric '{}'", champion.metric)))?;
    let base = base_query(&spec_query).to_string();
    let col = quote_ident(&column);

    // The cutoff: the value at row `k` counting from the newest.
    let counted = collect(
        runner,
        &format!("SELECT count(*) AS n FROM ({base}) AS retrain_all WHERE {col} IS NOT NULL"),
    )
    .await?;
    let n = int_at(&counted, "n").unwrap_or(0);
    let k = ((n as f64) * fraction).ceil().max(1.0) as i64;
    if n < 2 || k >= n {
        return Err(VoidxError::InvalidArgument(format!(
            "retrain: {n} rows with a {column} value are too few to hold out {fraction} of them"
        )));
    }
    let cut = collect(
        runner,
        &format!(
            "SELECT {col} AS cutoff, CAST({col} AS VARCHAR) AS cutoff_text FROM ({base}) AS retrain_all \
             WHERE {col} IS NOT NULL ORDER BY {col} DESC LIMIT 1 OFFSET {}",
            k - 1
        ),
    )
    .await?;
    let batch0 = cut
        .iter()
        .find(|b| b.num_rows() > 0)
        .ok_or_else(|| VoidxError::Internal("retrain: no cutoff row".into()))?;
    let cutoff_type = batch0.schema().field(0).data_type().clone();
    let cutoff_text = batch0
        .column(1)
        .as_any()
        .downcast_ref::<StringArray>()
        .map(|a| a.value(0).to_string())
        .ok_or_else(|| VoidxError::Internal("retrain: cutoff is not text".into()))?;
    let literal = if cutoff_type.is_numeric() {
        cutoff_text.clone()
    } else {
        quote_str(&cutoff_text)
    };

    let progress = crate::progress::current();
    progress.note(
        format!(
            "retrain {model}: champion version {champion_version}; training a challenger on the rows with {column} < {cutoff_text}"
        ),
        None,
    );
    // Challenger: the same spec on the rows before the cutoff, never auto-deployed.
    let train_query = format!("{WRAP_HEAD}{base}{WRAP_MARK}{col} < {literal}");
    let mut train_options = parse_options(&champion.options, "the recorded training", "{}")
        .unwrap_or_else(|_| serde_json::json!({}));
    train_options["deploy"] = serde_json::json!("never");
    let trained = collect(
        runner,
        &format!(
            "SELECT version, rows FROM train({}, {}, {}, {})",
            quote_str(model),
            quote_str(&train_query),
            quote_str(&target),
            quote_str(&train_options.to_string())
        ),
    )
    .await?;
    let challenger_version = int_at(&trained, "version")
        .ok_or_else(|| VoidxError::Internal("retrain: train returned no version".into()))?;
    let train_rows = int_at(&trained, "rows").unwrap_or(0);

    progress.note(
        format!(
            "retrain {model}: scoring champion version {champion_version} and challenger version {challenger_version} on the holdout ({column} >= {cutoff_text})"
        ),
        None,
    );
    let holdout_from = format!("({base}) AS retrain_holdout WHERE {col} >= {literal}");
    let (champion_score, holdout_rows) = score(
        runner,
        registry,
        model,
        champion_version,
        &target,
        &holdout_from,
        metric,
    )
    .await?;
    let (challenger_score, _) = score(
        runner,
        registry,
        model,
        challenger_version,
        &target,
        &holdout_from,
        metric,
    )
    .await?;
    let improvement = metric.improvement(challenger_score, champion_score);
    let better = metric.better(challenger_score, champion_score) && improvement >= margin;
    let m = metric.as_str();
    let (decision, reason) = if better {
        registry.deploy(model, challenger_version).await?;
        (
            "promoted",
            format!(
                "challenger {m} {challenger_score:.4} beats champion {champion_score:.4} on {holdout_rows} holdout rows ({column} >= {cutoff_text}); improvement {improvement:.4} >= margin {margin}"
            ),
        )
    } else {
        (
            "kept",
            format!(
                "challenger {m} {challenger_score:.4} vs champion {champion_score:.4} on {holdout_rows} holdout rows ({column} >= {cutoff_text}); improvement {improvement:.4} is below margin {margin} (or not better)"
            ),
        )
    };
    tracing::info!(
        model,
        champion = champion_version,
        challenger = challenger_version,
        decision,
        "{reason}"
    );
    progress.note(format!("retrain {model}: {decision}: {reason}"), None);
    Ok(Decision {
        model: model.to_string(),
        champion_version,
        challenger_version,
        metric: m.to_string(),
        champion_score,
        challenger_score,
        improvement,
        margin,
        holdout_column: column,
        cutoff: cutoff_text,
        holdout_rows,
        train_rows,
        decision: decision.into(),
        reason,
        production_version: registry.production(model).unwrap_or(champion_version),
    })
}

/// The version's metric over the holdout rows, and how many rows scored.
async fn score(
    runner: &dyn SqlRunner,
    registry: &crate::model::registry::Registry,
    model: &str,
    version: i64,
    target: &str,
    from: &str,
    metric: Metric,
) -> Result<(f64, i64)> {
    let v = registry
        .version(model, version)
        .ok_or_else(|| VoidxError::Internal(format!("{model}@{version} is missing")))?;
    let features: Vec<String> = serde_json::from_str(&v.features)
        .map_err(|e| VoidxError::Internal(format!("{model}@{version} features: {e}")))?;
    let fields = features
        .iter()
        .map(|f| format!("{}, {}", quote_str(f), quote_ident(f)))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT CAST({t} AS DOUBLE) AS y, CAST(predict({m}, named_struct({fields})) AS DOUBLE) AS p \
         FROM {from} AND {t} IS NOT NULL",
        t = quote_ident(target),
        m = quote_str(&format!("{model}@{version}")),
    );
    let batches = collect(runner, &sql).await?;
    let (mut y, mut p) = (Vec::new(), Vec::new());
    for b in &batches {
        let (Some(ys), Some(ps)) = (
            b.column(0).as_any().downcast_ref::<Float64Array>(),
            b.column(1).as_any().downcast_ref::<Float64Array>(),
        ) else {
            continue;
        };
        for i in 0..b.num_rows() {
            if ys.is_valid(i) && ps.is_valid(i) {
                y.push(ys.value(i));
                p.push(ps.value(i));
            }
        }
    }
    if y.is_empty() {
        return Err(VoidxError::InvalidArgument(format!(
            "retrain: no holdout rows to score {model}@{version}"
        )));
    }
    Ok((metric.compute(&y, &p), y.len() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapper_is_stripped_once() {
        let spec = "SELECT * FROM sales WHERE x > 1";
        let wrapped = format!("{WRAP_HEAD}{spec}{WRAP_MARK}\"d\" < '2024-01-01'");
        assert_eq!(base_query(&wrapped), spec);
        assert_eq!(base_query(spec), spec);
        assert_eq!(quote_str("it's"), "'it''s'");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
