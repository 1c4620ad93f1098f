//! Modeling layer: the registry (versions, stages, artifacts, runs) and the
//! table functions that change it — `train`, `import_model`, `deploy`,
//! `rollback`. The serving functions (`predict`, `predict_interval`,
//! `shap_explain`) live in `voidx_udfs::model` and find models through the
//! registry as a [`voidx_udfs::model::ModelSource`].

pub mod import;
pub mod lifecycle;
pub mod prediction_log;
pub mod registry;
pub mod tables;
pub mod train;

use std::sync::Arc;

use datafusion::catalog::TableFunctionImpl;
use datafusion::prelude::SessionContext;
use voidx_udfs::SqlDoc;
use voidx_udfs::model::ModelSource;

use crate::storage::provider::Resolver;
use registry::Registry;

pub fn docs() -> Vec<SqlDoc> {
    let mut docs = vec![
        train::TrainFunction::DOC,
        import::ImportModel::DOC,
        lifecycle::Deploy::DOC,
        lifecycle::Rollback::DOC,
        lifecycle::AbSplit::DOC,
    ];
    docs.extend(voidx_udfs::model::docs());
    docs
}

/// Registers every modeling function on `ctx`.
pub fn register(
    ctx: &SessionContext,
    registry: &Arc<Registry>,
    resolver: &Arc<Resolver>,
    policy: &Arc<crate::ingest::policy::Policy>,
) {
    let functions: Vec<(&str, Arc<dyn TableFunctionImpl>)> = vec![
        (
            "train",
            Arc::new(train::TrainFunction {
                registry: Arc::clone(registry),
                resolver: Arc::clone(resolver),
            }),
        ),
        (
            "import_model",
            Arc::new(import::ImportModel(
                Arc::clone(registry),
                Arc::clone(policy),
            )),
        ),
        ("deploy", Arc::new(lifecycle::Deploy(Arc::clone(registry)))),
        (
            "rollback",
            Arc::new(lifecycle::Rollback(Arc::clone(registry))),
        ),
        (
            "ab_split",
            Arc::new(lifecycle::AbSplit(Arc::clone(registry))),
        ),
    ];
    for (name, f) in functions {
        ctx.register_udtf(name, f);
    }
    let source: Arc<dyn ModelSource> = Arc::clone(registry) as Arc<dyn ModelSource>;
    for udf in voidx_udfs::model::functions(&source) {
        ctx.register_udf(udf.as_ref().clone());
    }
}
