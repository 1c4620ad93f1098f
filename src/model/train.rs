//! `train(model, query, target [, options])`: runs the query, trains with
//! cross-validation (see `voidx_udfs::ml::train`), records every trial in
//! `voidx.runs` as it finishes, and registers the version.
//!
//! ```sql
//! SELECT * FROM train('revenue_predictor', 'SELECT * FROM features.customer', 'revenue',
//!                     '{"cv_folds": 5, "id_columns": ["customer_id"]}');
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::source_as_provider;
use datafusion::error::Result;
use datafusion::logical_expr::LogicalPlan;
use futures::FutureExt;
use voidx_udfs::ml::dataset::Dataset;
use voidx_udfs::ml::options::TrainOptions;
use voidx_udfs::ml::train::{FoldDone, Train, TrainOutcome};
use voidx_udfs::{Documented, SqlDoc};

use super::registry::{Registry, check_name, ml_error};
use super::tables::{Importance, ModelVersion, Run};
use crate::error::VoidxError;
use crate::storage::catalog::now_ms;
use crate::storage::functions::literal_str;
use crate::storage::lazy::LazyTable;
use crate::storage::managed_table::ManagedTable;
use crate::storage::provider::Resolver;

#[derive(Debug)]
pub struct TrainFunction {
    pub registry: Arc<Registry>,
    pub resolver: Arc<Resolver>,
}

impl Documented for TrainFunction {
    const DOC: SqlDoc = SqlDoc {
        name: "train",
        kind: "table",
        syntax: "train(model, query, target [, options_json])",
        description: "Trains a boosted-tree model on the rows of `query` and registers it as the next version of `model`; returns one row for the version created. Features are every numeric or boolean column except `target` and the `id_columns`; text columns are refused with a hint. Each candidate configuration is scored by k-fold cross-validation against a constant baseline (mean, or class share), and every fold appears in voidx.runs as it finishes. The new version becomes production when nothing is in production yet or when its CV metric beats production's (`deploy` option). Options: `task` (regression | classification), `algorithm` (hist | gbdt | ensemble; default hist, the histogram trainer), `objective` (squared_error | absolute_error | huber | log_loss), `n_estimators` (100), `learning_rate` (0.1), `max_depth` (hist: -1 = none for leaf-wise; gbdt: 4), `min_leaf_size` (alias min_data_in_leaf, 20), hist only: `growth` (leafwise | depthwise), `num_leaves` (31), `lambda_l1`, `lambda_l2`, `min_sum_hessian`, `max_bin` (255), `bagging_fraction`, `feature_fraction`, `early_stopping_rounds`, `huber_delta`; `cv_folds` (5; 0 = none), `seed` (42), `metric` (rmse | mae | r2 | log_loss | auc | accuracy), `search` ({\"trials\": n, \"space\": {\"max_depth\": [2, 8], \"learning_rate\": [0.01, 0.3, \"log\"], ...}}), `ensemble` (a list of parameter overrides, each may set algorithm and growth; or \"algorithm\": \"ensemble\" for leaf-wise + depth-wise hist + exact gbdt; weights are fitted on out-of-fold predictions), `id_columns`, `deploy` (auto | force | never).",
        arguments: &[
            ("model", "model name: letters, digits, underscores"),
            ("query", "SQL whose rows are the training data"),
            (
                "target",
                "the column to predict (numeric; 0/1 or boolean for classification)",
            ),
            ("options_json", "JSON object of options (see above)"),
        ],
        example: "SELECT name, version, cv_mean, baseline, improvement, stage\nFROM train('revenue_predictor', 'SELECT * FROM features.customer', 'revenue',\n           '{\"id_columns\": [\"customer_id\"], \"cv_folds\": 5}');",
    };
}

impl TrainFunction {
    pub fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("version", DataType::Int64, false),
            Field::new("task", DataType::Utf8, false),
            Field::new("algorithm", DataType::Utf8, false),
            Field::new("rows", DataType::Int64, false),
            Field::new("features", DataType::Int64, false),
            Field::new("metric", DataType::Utf8, false),
            Field::new("cv_mean", DataType::Float64, true),
            Field::new("cv_std", DataType::Float64, true),
            Field::new("baseline", DataType::Float64, true),
            Field::new("improvement", DataType::Float64, true),
            Field::new("data_versions", DataType::Utf8, false),
            Field::new("seed", DataType::Int64, true),
            Field::new("duration_ms", DataType::Int64, false),
            Field::new("stage", DataType::Utf8, false),
        ]))
    }
}

/// A registered version as the one-row answer of `train` / `import_model`.
pub fn version_batch(v: &ModelVersion) -> Result<RecordBatch> {
    let features = serde_json::from_str::<Vec<String>>(&v.features).map_or(0, |f| f.len());
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![v.name.clone()])),
        Arc::new(Int64Array::from(vec![v.version])),
        Arc::new(StringArray::from(vec![v.task.clone()])),
        Arc::new(StringArray::from(vec![v.algorithm.clone()])),
        Arc::new(Int64Array::from(vec![v.rows])),
        Arc::new(Int64Array::from(vec![features as i64])),
        Arc::new(StringArray::from(vec![v.metric.clone()])),
        Arc::new(Float64Array::from(vec![v.cv_mean])),
        Arc::new(Float64Array::from(vec![v.cv_std])),
        Arc::new(Float64Array::from(vec![v.baseline])),
        Arc::new(Float64Array::from(vec![v.improvement])),
        Arc::new(StringArray::from(vec![v.data_versions.clone()])),
        Arc::new(Int64Array::from(vec![v.seed])),
        Arc::new(Int64Array::from(vec![v.duration_ms])),
        Arc::new(StringArray::from(vec![v.stage.clone()])),
    ];
    Ok(RecordBatch::try_new(TrainFunction::schema(), columns)?)
}

impl TableFunctionImpl for TrainFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        let name = literal_str(exprs, 0, "train", "the model name")?;
        check_name(&name)?;
        let query = literal_str(exprs, 1, "train", "the training query")?;
        let target = literal_str(exprs, 2, "train", "the target column")?;
        let options_text = if exprs.len() > 3 {
            literal_str(exprs, 3, "train", "the options (JSON text)")?
        } else {
            "{}".to_string()
        };
        if exprs.len() > 4 {
            return Err(VoidxError::InvalidArgument(
                "train takes (model, query, target [, options_json])".into(),
            )
            .into());
        }
        // Option mistakes surface at planning time, before any work.
        TrainOptions::parse(&options_text).map_err(ml_error)?;
        let job = Arc::new(TrainJob {
            registry: Arc::clone(&self.registry),
            resolver: Arc::clone(&self.resolver),
            name,
            query,
            target,
            options_text,
        });
        LazyTable::try_new(
            Self::schema(),
            Arc::new(move || {
                let job = Arc::clone(&job);
                async move { Ok(vec![version_batch(&job.run().await?)?]) }.boxed()
            }),
        )
    }
}

struct TrainJob {
    registry: Arc<Registry>,
    resolver: Arc<Resolver>,
    name: String,
    query: String,
    target: String,
    options_text: String,
}

impl TrainJob {
    async fn run(&self) -> crate::error::Result<ModelVersion> {
        let started = Instant::now();
        let options = TrainOptions::parse(&self.options_text).map_err(ml_error)?;
        let ctx = self.resolver.session.get()?;
        let df = ctx.sql(&self.query).await?;
        let data_versions = data_versions(df.logical_plan())?;
        let batches = df.collect().await?;
        let version = self.registry.reserve_version(&self.name).await?;
        tracing::info!(model = %self.name, version, "training started");
        let progress = crate::progress::current();
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        progress.note(
            format!(
                "training {} version {version} on {} rows",
                self.name,
                crate::progress::count(rows as u64)
            ),
            None,
        );

        // Trials are recorded as they finish, by a task that owns the writes.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<Run>>();
        let registry = Arc::clone(&self.registry);
        let name = self.name.clone();
        let recorder = tokio::spawn(async move {
            while let Some(runs) = rx.recv().await {
                if let Some(summary) = runs.iter().find(|r| r.fold.is_none()) {
                    tracing::info!(
                        model = %name, version, trial = summary.trial, role = %summary.role,
                        metric = %summary.metric, score = summary.score, "candidate scored"
                    );
                }
                if let Err(e) = registry.append_runs(&runs).await {
                    tracing::warn!(model = %name, "could not record runs: {e}");
                }
            }
        });
        let (model, target) = (self.name.clone(), self.target.clone());
        let id_columns = options.id_columns.clone();
        let trainer_options = options.clone();
        let notes = progress.clone();
        let trained = tokio::task::spawn_blocking(move || -> Result<TrainOutcome, VoidxError> {
            let data = Dataset::from_batches(&batches, &target, &id_columns, trainer_options.task)
                .map_err(ml_error)?;
            drop(batches);
            let progress = tx.clone();
            let to_runs = move |records: &[voidx_udfs::ml::train::RunRecord]| -> Vec<Run> {
                records
                    .iter()
                    .map(|r| Run {
                        model: model.clone(),
                        version,
                        trial: r.trial as i64,
                        fold: r.fold.map(|f| f as i64),
                        role: r.role.to_string(),
                        params: serde_json::to_string(&r.params).unwrap_or_default(),
                        metric: r.metric.as_str().to_string(),
                        score: r.score,
                        duration_ms: r.duration_ms as i64,
                        created_at: now_ms(),
                    })
                    .collect()
            };
            let to_runs = Arc::new(to_runs);
            let record = Arc::clone(&to_runs);
            let notes = Arc::new(TrainNotes::new(notes));
            let fold_notes = Arc::clone(&notes);
            let outcome = Train::new(data, trainer_options)
                .with_progress(move |records| {
                    notes.scored(records);
                    let _ = progress.send(record(records));
                })
                .with_fold_progress(move |fold| fold_notes.fold(fold))
                .run()
                .map_err(ml_error)?;
            // The chosen configuration is refitted on every row before this returns.
            // The baseline row comes last, after all trials.
            let baseline: Vec<_> = outcome
                .runs
                .iter()
                .filter(|r| r.role == "baseline")
                .cloned()
                .collect();
            let _ = tx.send(to_runs(&baseline));
            Ok(outcome)
        })
        .await
        .map_err(|e| VoidxError::Internal(format!("training stopped: {e}")))?;
        // Let the recorder drain before answering, so voidx.runs is complete.
        let _ = recorder.await;
        let outcome = trained?;
        progress.note(
            format!(
                "trained {} version {version}: cv {} {} (baseline {}); registering",
                self.name,
                outcome.metric.as_str(),
                outcome
                    .cv_mean
                    .map_or_else(|| "-".to_string(), crate::progress::number),
                crate::progress::number(outcome.baseline)
            ),
            None,
        );
        let features = outcome.artifact.forest.feature_names.clone();
        let importance = importance_rows(&self.name, version, &features, &outcome);
        let row = ModelVersion {
            name: self.name.clone(),
            version,
            stage: String::new(),
            traffic_share: 0.0,
            task: options.task.as_str().into(),
            algorithm: outcome.algorithm.as_str().into(),
            objective: outcome.artifact.objective.clone(),
            metric: outcome.metric.as_str().into(),
            cv_mean: outcome.cv_mean,
            cv_std: outcome.cv_std,
            baseline: Some(outcome.baseline),
            improvement: Some(outcome.improvement),
            train_score: Some(outcome.train_score),
            rows: outcome.rows as i64,
            features: serde_json::to_string(&features).unwrap_or_default(),
            params: outcome.params.to_string(),
            data_versions: serde_json::to_string(&data_versions).unwrap_or_default(),
            query: Some(self.query.clone()),
            target: Some(self.target.clone()),
            options: self.options_text.clone(),
            seed: Some(options.seed as i64),
            source: "train".into(),
            duration_ms: started.elapsed().as_millis() as i64,
            created_at: now_ms(),
        };
        // Every run is on record, nothing of the version is yet.
        crate::failpoint::hit("train.before_register")?;
        let stored = self
            .registry
            .register(row, outcome.artifact, importance, options.deploy)
            .await?;
        tracing::info!(model = %self.name, version, stage = %stored.stage, "training finished");
        Ok(stored)
    }
}

/// What a training run tells the client as it goes: each fold
/// (`trial 7/30, fold 3/5: rmse 1,712.4`, without the trial when there is
/// one candidate) and each candidate (`trial 7/30: rmse 1,712.4 (best 1,698.0)`).
struct TrainNotes {
    progress: crate::progress::Progress,
    /// How many candidates there are (learnt from the first fold) and the best score so far.
    state: std::sync::Mutex<(usize, Option<f64>)>,
}

impl TrainNotes {
    fn new(progress: crate::progress::Progress) -> Self {
        TrainNotes {
            progress,
            state: std::sync::Mutex::new((0, None)),
        }
    }

    fn fold(&self, f: FoldDone) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0 = f.trials;
        let trial = if f.trials > 1 {
            format!("trial {}/{}, ", f.trial + 1, f.trials)
        } else {
            String::new()
        };
        self.progress.note(
            format!(
                "{trial}fold {}/{}: {} {}",
                f.done,
                f.folds,
                f.metric.as_str(),
                crate::progress::number(f.score)
            ),
            Some((
                (f.trial * f.folds + f.done) as u64,
                (f.trials * f.folds) as u64,
            )),
        );
    }

    fn scored(&self, records: &[voidx_udfs::ml::train::RunRecord]) {
        let Some(summary) = records.iter().find(|r| r.fold.is_none()) else {
            return;
        };
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let metric = summary.metric;
        if state.1.is_none_or(|b| metric.better(summary.score, b)) {
            state.1 = Some(summary.score);
        }
        if state.0 <= 1 {
            // One candidate: its folds said it all; the mean comes with "trained".
            return;
        }
        let best = state.1.map_or_else(String::new, |b| {
            format!(" (best {})", crate::progress::number(b))
        });
        self.progress.note(
            format!(
                "{} {}/{}: {} {}{best}",
                summary.role,
                summary.trial + 1,
                state.0,
                metric.as_str(),
                crate::progress::number(summary.score)
            ),
            None,
        );
    }
}

fn importance_rows(
    model: &str,
    version: i64,
    features: &[String],
    o: &TrainOutcome,
) -> Vec<Importance> {
    let mut order: Vec<usize> = (0..features.len()).collect();
    order.sort_by(|&a, &b| o.mean_abs_shap[b].total_cmp(&o.mean_abs_shap[a]));
    order
        .iter()
        .enumerate()
        .map(|(rank, &i)| Importance {
            model: model.to_string(),
            version,
            feature: features[i].clone(),
            rank: rank as i64 + 1,
            gain: o.gain[i],
            mean_abs_shap: o.mean_abs_shap[i],
        })
        .collect()
}

/// The Delta version of every managed table a plan reads, through views.
pub fn data_versions(plan: &LogicalPlan) -> Result<BTreeMap<String, i64>> {
    let mut providers = Vec::new();
    collect_scans(plan, &mut providers)?;
    let mut out = BTreeMap::new();
    while let Some(p) = providers.pop() {
        if let Some(t) = p.downcast_ref::<ManagedTable>() {
            if let Some(v) = t.delta_version() {
                out.insert(t.name().to_string(), v);
            }
        } else if let Some(inner) = p.get_logical_plan() {
            collect_scans(&inner, &mut providers)?;
        }
    }
    Ok(out)
}

fn collect_scans(plan: &LogicalPlan, providers: &mut Vec<Arc<dyn TableProvider>>) -> Result<()> {
    plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(p) = source_as_provider(&scan.source)
        {
            providers.push(p);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(())
}
