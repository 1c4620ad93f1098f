//! Model cards generated from the registry, with the sections of Mitchell
//! et al., *Model Cards for Model Reporting* (2019): details, intended use,
//! training data, features, metrics, errors by segment, intervals, drift
//! reference, caveats. Everything comes from `voidx.models`, `voidx.runs`,
//! `voidx.feature_importance`, the stored artifact and the catalog (comments
//! and current Delta versions of the tables the model read); nothing is
//! written for one model by hand.
//!
//! Served as the table function `model_card(name [, version])`, as
//! `GET /v1/models/{name}/card` and as `voidx docs model-card NAME`.
//!
//! ```sql
//! SELECT card FROM model_card('revenue_predictor');      -- production (else newest) version
//! SELECT card FROM model_card('revenue_predictor', 2);
//! ```

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use futures::FutureExt;
use voidx_udfs::ml::artifact::ModelArtifact;
use voidx_udfs::{Documented, SqlDoc};

use super::registry::{Registry, check_name};
use super::tables::{self, Importance, ModelVersion, Run};
use crate::error::{Result, VoidxError};
use crate::storage::functions::{literal_int, literal_str};
use crate::storage::lazy::LazyTable;

/// The version a card describes: the one asked for, else production, else the newest.
fn pick(registry: &Registry, name: &str, version: Option<i64>) -> Result<ModelVersion> {
    let all: Vec<ModelVersion> = registry
        .versions()
        .into_iter()
        .filter(|v| v.name == name)
        .collect();
    let newest = all.iter().map(|v| v.version).max();
    let Some(newest) = newest else {
        return Err(registry.unroutable(name));
    };
    let wanted = version.or(registry.production(name)).unwrap_or(newest);
    registry.version(name, wanted).ok_or_else(|| {
        VoidxError::Ml(voidx_udfs::ml::MlError::UnknownModel(format!(
            "model '{name}' has no version {wanted}. Help: SELECT version, stage FROM voidx.models WHERE name = '{name}'"
        )))
    })
}

/// The markdown card of `name` at `version` (production, else the newest, when `None`).
pub async fn render(registry: &Registry, name: &str, version: Option<i64>) -> Result<String> {
    check_name(name)?;
    let v = pick(registry, name, version)?;
    let tail = format!(
        "WHERE model = '{name}' AND version = {} ORDER BY trial, fold",
        v.version
    );
    let runs: Vec<Run> = tables::from_batches(&registry.read("runs", Some(&tail)).await?)?;
    let tail = format!(
        "WHERE model = '{name}' AND version = {} ORDER BY rank",
        v.version
    );
    let importance: Vec<Importance> =
        tables::from_batches(&registry.read("feature_importance", Some(&tail)).await?)?;
    let artifact = registry.load_artifact(name, v.version).await?;
    let mut out = String::new();
    details(&mut out, &v);
    intended_use(&mut out, registry, &v);
    training_data(&mut out, registry, &v).await;
    features(&mut out, &v, &importance, &artifact);
    metrics(&mut out, &v, &runs);
    segments(&mut out, &v, &runs, &artifact);
    intervals(&mut out, &v, &artifact);
    drift_reference(&mut out, &artifact);
    caveats(&mut out, registry, &v, &artifact).await;
    Ok(out)
}

fn num(x: Option<f64>) -> String {
    match x {
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) if x.abs() >= 1.0 => format!("{x:.2}"),
        Some(x) => format!("{x:.4}"),
        None => "—".into(),
    }
}

fn timestamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

fn details(out: &mut String, v: &ModelVersion) {
    let _ = writeln!(out, "# Model card: `{}` version {}\n", v.name, v.version);
    let _ = writeln!(
        out,
        "Generated from the registry by `SELECT card FROM model_card('{}', {})`.\n",
        v.name, v.version
    );
    let _ = writeln!(out, "## Model details\n\n| | |\n|---|---|");
    let rows = [
        ("name", format!("`{}`", v.name)),
        ("version", v.version.to_string()),
        (
            "stage",
            format!("{} (traffic share {})", v.stage, v.traffic_share),
        ),
        ("task", v.task.clone()),
        (
            "algorithm",
            format!("{} (objective {})", v.algorithm, v.objective),
        ),
        ("source", v.source.clone()),
        ("trained at", timestamp(v.created_at)),
        (
            "trained by",
            "not recorded (the registry keeps no login per version)".into(),
        ),
        (
            "training time",
            format!("{:.1} s", v.duration_ms as f64 / 1000.0),
        ),
        ("seed", v.seed.map_or("—".to_string(), |s| s.to_string())),
        ("parameters", format!("`{}`", v.params)),
        ("options", format!("`{}`", v.options)),
    ];
    for (k, val) in rows {
        let _ = writeln!(out, "| {k} | {} |", val.replace('|', "\\|"));
    }
    out.push('\n');
}

/// The tables a version read, from its recorded data versions.
fn data_versions(v: &ModelVersion) -> BTreeMap<String, i64> {
    serde_json::from_str(&v.data_versions).unwrap_or_default()
}

fn intended_use(out: &mut String, registry: &Registry, v: &ModelVersion) {
    let _ = writeln!(out, "## Intended use\n");
    let target = v.target.as_deref().unwrap_or("the target");
    let _ = writeln!(
        out,
        "Predicts `{target}` ({}) for rows shaped like the training query's, through \
         `predict('{}', …)` (features in the order below) or `POST /v1/models/{}/predict`. \
         It is not validated for rows outside the training population or for decisions \
         about individuals without review.",
        v.task, v.name, v.name
    );
    // The descriptions (COMMENT ON) of what it was trained on say what the rows are.
    for table in data_versions(v).keys() {
        if let Some((schema, name)) = table.split_once('.')
            && let Some(comment) = registry.catalog().get(schema, name).and_then(|e| e.comment)
        {
            let _ = writeln!(out, "\n* `{table}`: {comment}");
        }
    }
    out.push('\n');
}

async fn training_data(out: &mut String, registry: &Registry, v: &ModelVersion) {
    let _ = writeln!(out, "## Training data\n");
    let _ = writeln!(
        out,
        "{} rows, target `{}`. Query:\n\n```sql\n{}\n```\n",
        v.rows,
        v.target.as_deref().unwrap_or("—"),
        v.query
            .as_deref()
            .unwrap_or("(not recorded: imported model)")
    );
    let versions = data_versions(v);
    if versions.is_empty() {
        let _ = writeln!(
            out,
            "No Delta versions recorded (an imported model, or a query over no managed table).\n"
        );
        return;
    }
    let _ = writeln!(
        out,
        "| table | Delta version read | current version | re-read with |\n|---|---:|---:|---|"
    );
    for (table, version) in versions {
        let current = current_version(registry, &table).await;
        let _ = writeln!(
            out,
            "| `{table}` | {version} | {} | `table_at('{table}', {version})` |",
            current.map_or("—".into(), |c| c.to_string())
        );
    }
    out.push('\n');
}

async fn current_version(registry: &Registry, table: &str) -> Option<i64> {
    let (schema, name) = table.split_once('.')?;
    let location = registry.catalog().get(schema, name)?.location?;
    let delta = registry.catalog().delta_table(&location).await.ok()?;
    delta.version().map(|v| v as i64)
}

fn features(out: &mut String, v: &ModelVersion, importance: &[Importance], a: &ModelArtifact) {
    let names: Vec<String> = serde_json::from_str(&v.features).unwrap_or_default();
    let _ = writeln!(
        out,
        "## Features\n\n{} numeric or boolean features, in the order `predict` takes them; \
         importance is mean |SHAP| over up to 256 training rows (rank 1 = most important).\n",
        names.len()
    );
    let _ = writeln!(
        out,
        "| # | feature | rank | mean \\|SHAP\\| | gain | NULL share | mean | std |\n|---:|---|---:|---:|---:|---:|---:|---:|"
    );
    for (i, f) in names.iter().enumerate() {
        let imp = importance.iter().find(|r| &r.feature == f);
        let reference = a.reference.iter().find(|r| &r.feature == f);
        let _ = writeln!(
            out,
            "| {} | `{f}` | {} | {} | {} | {} | {} | {} |",
            i + 1,
            imp.map_or("—".into(), |r| r.rank.to_string()),
            num(imp.map(|r| r.mean_abs_shap)),
            num(imp.map(|r| r.gain)),
            reference.map_or("—".into(), |r| format!(
                "{:.1} %",
                r.null_fraction * 100.0
            )),
            num(reference.map(|r| r.mean)),
            num(reference.map(|r| r.std)),
        );
    }
    out.push('\n');
}

/// The trial whose CV summary is the version's CV mean (the chosen configuration).
fn chosen_trial(v: &ModelVersion, runs: &[Run]) -> Option<(i64, String)> {
    let cv = v.cv_mean?;
    runs.iter()
        .filter(|r| r.fold.is_none() && r.role != "baseline" && r.role != "abandoned")
        .min_by(|a, b| (a.score - cv).abs().total_cmp(&(b.score - cv).abs()))
        .map(|r| (r.trial, r.role.clone()))
}

fn metrics(out: &mut String, v: &ModelVersion, runs: &[Run]) {
    let _ = writeln!(out, "## Metrics\n");
    let _ = writeln!(
        out,
        "| measure | {} |\n|---|---:|\n| cross-validation mean | {} |\n| cross-validation std | {} |\n\
         | baseline (constant predictor, same folds) | {} |\n| improvement over the baseline | {} |\n\
         | in-sample (training rows, optimistic) | {} |\n",
        v.metric,
        num(v.cv_mean),
        num(v.cv_std),
        num(v.baseline),
        v.improvement
            .map_or("—".into(), |i| format!("{:.1} %", i * 100.0)),
        num(v.train_score)
    );
    let trials = runs
        .iter()
        .filter(|r| r.fold.is_none() && r.role == "trial")
        .count();
    if trials > 1 {
        let _ = writeln!(
            out,
            "A search scored {trials} configurations; the figures are those of the chosen one.\n"
        );
    }
    let Some((trial, role)) = chosen_trial(v, runs) else {
        let _ = writeln!(
            out,
            "No cross-validation was run (`cv_folds: 0` or an imported model).\n"
        );
        return;
    };
    let _ = writeln!(
        out,
        "Per fold (`voidx.runs`, trial {trial}; the baseline is recorded as its mean only):\n\n| fold | {} |\n|---:|---:|",
        v.metric
    );
    for r in runs
        .iter()
        .filter(|r| r.trial == trial && r.role == role && r.fold.is_some())
    {
        let _ = writeln!(
            out,
            "| {} | {} |",
            r.fold.unwrap_or_default() + 1,
            num(Some(r.score))
        );
    }
    let _ = writeln!(
        out,
        "\nHoldout: none beyond the folds — `train` keeps no rows apart, so the out-of-fold \
         scores above are the estimate for unseen rows. Score new outcomes with \
         `model_performance('{}', …)` (docs/monitoring.md).\n",
        v.name
    );
}

fn segments(out: &mut String, v: &ModelVersion, runs: &[Run], a: &ModelArtifact) {
    let _ = writeln!(out, "## Errors by segment\n");
    if a.segments.is_empty() {
        let _ = writeln!(
            out,
            "Not recorded for this version: errors by segment come from the cross-validation's \
             out-of-fold predictions, and this version has none (`cv_folds: 0`, an imported model, \
             or trained before VOIDX recorded them). Score outcomes by segment with \
             `model_performance('{}', …)` or `SELECT segment, avg(abs(predict('{}', …) - {})) … GROUP BY segment` \
             over rows the model has not seen.\n",
            v.name,
            v.name,
            v.target.as_deref().unwrap_or("target")
        );
    } else {
        let _ = writeln!(
            out,
            "Out of fold: each row scored by the fold model that did not see it, and by the constant \
             baseline of the other folds, within slices of the {} most important features \
             (quartiles, or one slice per value). A slice where the model is no better than the \
             baseline is where it should not be trusted.\n\n\
             | feature | slice | rows | {m} | baseline {m} |\n|---|---|---:|---:|---:|",
            voidx_udfs::ml::segments::TOP_FEATURES,
            m = v.metric
        );
        for s in &a.segments {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                s.feature,
                slice_text(s.slice),
                s.rows,
                num(s.score),
                num(s.baseline)
            );
        }
        let _ = writeln!(out);
    }
    let folds: Vec<f64> = runs
        .iter()
        .filter(|r| r.fold.is_some() && r.role == "trial")
        .map(|r| r.score)
        .collect();
    let spread = folds
        .iter()
        .cloned()
        .fold(None, |acc: Option<(f64, f64)>, s| {
            Some(acc.map_or((s, s), |(lo, hi)| (lo.min(s), hi.max(s))))
        });
    if let Some((lo, hi)) = spread {
        let _ = writeln!(
            out,
            "Across the random folds (random segments of the rows) {} ranges from {} to {}.\n",
            v.metric,
            num(Some(lo)),
            num(Some(hi))
        );
    }
}

/// A slice bound: whole numbers as they are, others as the card's numbers.
fn bound(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        num(Some(x))
    }
}

/// `< 12.5`, `12.5 – 30`, `≥ 30`, `= 1`, `missing`.
fn slice_text(slice: voidx_udfs::ml::segments::Slice) -> String {
    use voidx_udfs::ml::segments::Slice;
    match slice {
        Slice::Missing => "missing".into(),
        Slice::Value(v) => format!("= {}", bound(v)),
        Slice::Range { lo: None, hi: None } => "all".into(),
        Slice::Range {
            lo: None,
            hi: Some(hi),
        } => format!("< {}", bound(hi)),
        Slice::Range {
            lo: Some(lo),
            hi: None,
        } => format!("≥ {}", bound(lo)),
        Slice::Range {
            lo: Some(lo),
            hi: Some(hi),
        } => {
            format!("{} – {}", bound(lo), bound(hi))
        }
    }
}

fn intervals(out: &mut String, v: &ModelVersion, a: &ModelArtifact) {
    let _ = writeln!(out, "## Interval coverage\n");
    let Some(conformal) = &a.conformal else {
        let _ = writeln!(
            out,
            "No intervals: `predict_interval` needs out-of-fold residuals, which {} lacks \
             (trained without CV, imported, or a classifier).\n",
            v.name
        );
        return;
    };
    let _ = writeln!(
        out,
        "Split-conformal from {} out-of-fold residuals: `predict_interval('{}', …, level)` is \
         the prediction ± the half-width below, so a stated level covers about that share of \
         unseen rows (slightly more: fold models are a little worse than the refit).\n\n\
         | level | half-width |\n|---:|---:|",
        conformal.n, v.name
    );
    for level in [0.5, 0.8, 0.9, 0.95] {
        let width = conformal.half_width(level).ok();
        let _ = writeln!(out, "| {:.0} % | {} |", level * 100.0, num(width));
    }
    out.push('\n');
}

fn drift_reference(out: &mut String, a: &ModelArtifact) {
    let _ = writeln!(out, "## Drift reference\n");
    if a.reference.is_empty() {
        let _ = writeln!(
            out,
            "None stored (imported model): `drift_score` has nothing to compare with.\n"
        );
        return;
    }
    let _ = writeln!(
        out,
        "`drift_score` / `drift_report` compare live values with these training distributions \
         (PSI over the stored bins).\n\n| feature | rows | p1 | median | p99 | bins |\n|---|---:|---:|---:|---:|---:|"
    );
    for r in &a.reference {
        let q = |i: usize| r.quantiles.get(i).copied();
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} |",
            r.feature,
            r.rows,
            num(q(1)),
            num(q(50)),
            num(q(99)),
            r.fractions.len()
        );
    }
    out.push('\n');
}

async fn caveats(out: &mut String, registry: &Registry, v: &ModelVersion, a: &ModelArtifact) {
    let _ = writeln!(out, "## Caveats\n");
    let mut items: Vec<String> = Vec::new();
    if v.algorithm == "ensemble" {
        items.push(
            "The ensemble's weights were fitted on the same out-of-fold predictions its CV \
             metric is computed from, so that metric is slightly optimistic."
                .into(),
        );
    }
    if v.task == "classification" {
        items.push(
            "`predict` returns the probability of class 1; SHAP values are in log-odds.".into(),
        );
    }
    for r in a.reference.iter().filter(|r| r.null_fraction > 0.2) {
        items.push(format!(
            "`{}` is NULL for {:.0} % of training rows; the trees learnt a direction for missing values.",
            r.feature,
            r.null_fraction * 100.0
        ));
    }
    for (table, version) in data_versions(v) {
        if let Some(current) = current_version(registry, &table).await
            && current != version
        {
            items.push(format!(
                "`{table}` has moved from version {version} (trained) to {current}: retrain or \
                 check drift before trusting the metrics above on today's data."
            ));
        }
    }
    items.push(
        "Metrics describe the training population at the recorded data versions; they say \
         nothing about fairness across groups the features do not contain."
            .into(),
    );
    for item in items {
        let _ = writeln!(out, "* {item}");
    }
}

/// `model_card(name [, version])`: one row, the card as markdown.
#[derive(Debug)]
pub struct ModelCard(pub Arc<Registry>);

impl Documented for ModelCard {
    const DOC: SqlDoc = SqlDoc {
        name: "model_card",
        kind: "table",
        syntax: "model_card(model [, version])",
        description: "The model card of a version (production, else the newest, when no version is given), generated from the registry: one row `(name, version, card)` whose `card` is markdown with the sections of Mitchell et al., Model Cards for Model Reporting — model details, intended use, training data (tables and the Delta versions read), features (importance, NULL share), metrics (CV per fold against the baseline), errors by segment, interval coverage, drift reference and caveats. Also served as `GET /v1/models/{name}/card` and `voidx docs model-card NAME`.",
        arguments: &[
            ("model", "model name"),
            ("version", "a registered version (optional)"),
        ],
        example: "SELECT card FROM model_card('revenue_predictor');",
    };
}

fn card_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("version", DataType::Int64, false),
        Field::new("card", DataType::Utf8, false),
    ]))
}

impl TableFunctionImpl for ModelCard {
    fn call_with_args(
        &self,
        args: TableFunctionArgs,
    ) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        let name = literal_str(exprs, 0, "model_card", "the model name")?;
        check_name(&name)?;
        let version = literal_int(exprs, 1, "model_card", "a version number")?;
        if exprs.len() > 2 {
            return Err(
                VoidxError::InvalidArgument("model_card takes (model [, version])".into()).into(),
            );
        }
        let registry = Arc::clone(&self.0);
        LazyTable::try_new(
            card_schema(),
            Arc::new(move || {
                let (registry, name) = (Arc::clone(&registry), name.clone());
                async move {
                    let v = pick(&registry, &name, version)?;
                    let card = render(&registry, &name, Some(v.version)).await?;
                    let columns: Vec<ArrayRef> = vec![
                        Arc::new(StringArray::from(vec![name])),
                        Arc::new(Int64Array::from(vec![v.version])),
                        Arc::new(StringArray::from(vec![card])),
                    ];
                    Ok(vec![RecordBatch::try_new(card_schema(), columns)?])
                }
                .boxed()
            }),
        )
    }
}
