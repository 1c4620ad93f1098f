//! Modeling layer: the registry (versions, stages, artifacts, runs) and the
//! table functions that change it — `train`, `import_model`, `deploy`,
//! `rollback`. The serving functions (`predict`, `predict_interval`,
//! `shap_explain`) live in `voidx_udfs::model` and find models through the
//! registry as a [`voidx_udfs::model::ModelSource`].

pub mod card;
pub mod import;
pub mod lifecycle;
pub mod prediction_log;
pub mod recovery;
pub mod registry;
pub mod tables;
pub mod train;
pub mod uses;

use std::sync::Arc;

use voidx_udfs::SqlFunction;
use voidx_udfs::model::ModelSource;

use crate::storage::provider::Resolver;
use registry::Registry;

/// Every modeling function (the registry's table functions and the serving
/// functions of `voidx_udfs::model`), with its documentation.
pub fn functions(
    registry: &Arc<Registry>,
    resolver: &Arc<Resolver>,
    policy: &Arc<crate::policy::Policy>,
) -> Vec<SqlFunction> {
    let mut functions = vec![
        SqlFunction::table(train::TrainFunction {
            registry: Arc::clone(registry),
            resolver: Arc::clone(resolver),
        }),
        SqlFunction::table(import::ImportModel(
            Arc::clone(registry),
            Arc::clone(policy),
        )),
        SqlFunction::table(lifecycle::Deploy(Arc::clone(registry))),
        SqlFunction::table(lifecycle::Rollback(Arc::clone(registry))),
        SqlFunction::table(lifecycle::AbSplit(Arc::clone(registry))),
        SqlFunction::table(card::ModelCard(Arc::clone(registry))),
    ];
    let source: Arc<dyn ModelSource> = Arc::clone(registry) as Arc<dyn ModelSource>;
    functions.extend(voidx_udfs::model::functions(&source));
    functions
}
