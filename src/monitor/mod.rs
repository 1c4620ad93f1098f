//! Monitoring layer: drift against training references, model performance
//! from actual outcomes, alert rules and scheduled jobs, and the retraining
//! trigger.

pub mod drift;
pub mod performance;

use std::sync::Arc;

use datafusion::prelude::SessionContext;
use voidx_udfs::SqlDoc;

use crate::config::MonitorConfig;
use crate::model::registry::Registry;

pub fn docs() -> Vec<SqlDoc> {
    let mut docs = Vec::new();
    docs.extend(drift::docs());
    docs.extend(performance::docs());
    docs
}

/// Registers the monitoring functions on `ctx`.
pub fn register(ctx: &SessionContext, registry: &Arc<Registry>, config: &MonitorConfig) {
    drift::register(ctx, registry, config);
    performance::register(ctx, registry);
}
