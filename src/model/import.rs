//! `import_model(model, location, options)`: registers an XGBoost JSON or
//! LightGBM text model as a new version, with the feature names stored in
//! the file. Predictions and SHAP values then match the library's own.
//!
//! ```sql
//! SELECT * FROM import_model('churn', '/models/churn.json', '{"format": "xgboost"}');
//! ```

use std::sync::Arc;
use std::time::Instant;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;
use futures::FutureExt;
use serde::Deserialize;
use voidx_udfs::ml::artifact::ModelArtifact;
use voidx_udfs::ml::import::{ImportedTask, ModelFormat, import_model};
use voidx_udfs::ml::options::{DeployPolicy, Task};
use voidx_udfs::{Documented, SqlDoc};

use super::registry::{Registry, check_name, ml_error};
use super::tables::ModelVersion;
use super::train::{TrainFunction, version_batch};
use crate::error::VoidxError;
use crate::storage::catalog::now_ms;
use crate::storage::functions::literal_str;
use crate::storage::lazy::LazyTable;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportOptions {
    format: String,
    #[serde(default = "auto")]
    deploy: DeployPolicy,
}

fn auto() -> DeployPolicy {
    DeployPolicy::Auto
}

#[derive(Debug)]
/// The registry, and the allowlist the model file must be inside.
pub struct ImportModel(pub Arc<Registry>, pub Arc<crate::policy::Policy>);

impl Documented for ImportModel {
    const DOC: SqlDoc = SqlDoc {
        name: "import_model",
        kind: "table",
        syntax: "import_model(model, location, options_json)",
        description: "Registers a model trained elsewhere as the next version of `model`: an XGBoost JSON model (`booster.save_model('m.json')`, gbtree, regression or binary) or a LightGBM text model (`booster.save_model('m.txt')`). Feature names come from the file (XGBoost without names: f0, f1, …). Predictions and SHAP values agree with the library's predict / pred_contribs to float precision. Imported versions have no CV metrics, so `deploy: auto` promotes them only when nothing is in production. `location` is a file path inside `ingest.allowed_dirs` (the data directory by default).",
        arguments: &[
            ("model", "model name"),
            ("location", "path of the model file"),
            (
                "options_json",
                "{\"format\": \"xgboost\" | \"lightgbm\", \"deploy\": \"auto\" | \"force\" | \"never\"}",
            ),
        ],
        example: "SELECT * FROM import_model('churn_xgb', '/models/churn.json', '{\"format\": \"xgboost\"}');",
    };
}

impl TableFunctionImpl for ImportModel {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        let name = literal_str(exprs, 0, "import_model", "the model name")?;
        check_name(&name)?;
        let location = literal_str(exprs, 1, "import_model", "the model file's path")?;
        // Read the checked, resolved path, not the text.
        let checked = self.1.check_location(&location)?;
        let location = checked
            .local_path()
            .map(|p| p.to_string_lossy().into_owned())
            .ok_or_else(|| {
                VoidxError::InvalidArgument(format!(
                    "import_model reads a local file, not '{checked}'. Help: copy the model file into ingest.allowed_dirs"
                ))
            })?;
        let options_text = literal_str(
            exprs,
            2,
            "import_model",
            "the options, e.g. '{\"format\": \"xgboost\"}'",
        )?;
        let options: ImportOptions = serde_json::from_str(&options_text).map_err(|e| {
            VoidxError::InvalidArgument(format!(
                "import_model options: {e}. Help: '{{\"format\": \"xgboost\"}}' or '{{\"format\": \"lightgbm\"}}'"
            ))
        })?;
        let format: ModelFormat = options.format.parse().map_err(ml_error)?;
        let registry = Arc::clone(&self.0);
        let job = Arc::new((name, location, options_text, options.deploy, format));
        LazyTable::try_new(
            TrainFunction::schema(),
            Arc::new(move || {
                let (registry, job) = (Arc::clone(&registry), Arc::clone(&job));
                async move {
                    let (name, location, options_text, deploy, format) = &*job;
                    let v =
                        import(&registry, name, location, options_text, *deploy, *format).await?;
                    Ok(vec![version_batch(&v)?])
                }
                .boxed()
            }),
        )
    }
}

async fn import(
    registry: &Registry,
    name: &str,
    location: &str,
    options_text: &str,
    deploy: DeployPolicy,
    format: ModelFormat,
) -> crate::error::Result<ModelVersion> {
    let started = Instant::now();
    let bytes = tokio::fs::read(location).await.map_err(|e| {
        VoidxError::InvalidArgument(format!("cannot read model file '{location}': {e}"))
    })?;
    let imported = tokio::task::spawn_blocking(move || import_model(format, &bytes))
        .await
        .map_err(|e| VoidxError::Internal(e.to_string()))?
        .map_err(ml_error)?;
    let (task, metric) = match imported.task {
        ImportedTask::Regression => (Task::Regression, "rmse"),
        ImportedTask::Binary => (Task::Classification, "log_loss"),
    };
    let forest = imported.forest;
    let version = registry.reserve_version(name).await?;
    let row = ModelVersion {
        name: name.to_string(),
        version,
        stage: String::new(),
        traffic_share: 0.0,
        task: task.as_str().into(),
        algorithm: format!("{format:?}").to_lowercase(),
        objective: imported.objective.clone(),
        metric: metric.into(),
        cv_mean: None,
        cv_std: None,
        baseline: None,
        improvement: None,
        train_score: None,
        rows: 0,
        features: serde_json::to_string(&forest.feature_names).unwrap_or_default(),
        params: serde_json::json!({"trees": forest.n_trees(), "nodes": forest.n_nodes()})
            .to_string(),
        data_versions: "{}".into(),
        query: None,
        target: None,
        options: options_text.to_string(),
        seed: None,
        source: format!("import:{}", format!("{format:?}").to_lowercase()),
        duration_ms: started.elapsed().as_millis() as i64,
        created_at: now_ms(),
    };
    let artifact = ModelArtifact {
        forest,
        task,
        objective: imported.objective,
        conformal: None,
        reference: Vec::new(),
        segments: Vec::new(),
    };
    registry.register(row, artifact, Vec::new(), deploy).await
}
