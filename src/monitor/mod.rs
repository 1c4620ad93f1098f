//! Monitoring layer: drift against training references, model performance
//! from actual outcomes, alert rules and scheduled jobs, and the retraining
//! trigger.

use std::sync::Arc;

use datafusion::prelude::SessionContext;
use voidx_udfs::SqlDoc;

use crate::config::MonitorConfig;
use crate::model::registry::Registry;

pub fn docs() -> Vec<SqlDoc> {
    Vec::new()
}

/// Registers the monitoring functions on `ctx`.
pub fn register(_ctx: &SessionContext, _registry: &Arc<Registry>, _config: &MonitorConfig) {}
