//! Monitoring kernels and functions: population stability index over a
//! model's training reference ([`psi`]), Kolmogorov–Smirnov statistics
//! ([`ks`]), a seeded bootstrap for A/B differences ([`bootstrap`]) and the
//! `drift_score` aggregate.
//!
//! ```sql
//! SELECT drift_score('revenue_predictor', 'recency', recency) FROM features.customer;
//! ```

use std::sync::Arc;

use datafusion::logical_expr::AggregateUDF;

use crate::SqlDoc;
use crate::model::ModelSource;

pub mod bootstrap;
mod drift_score;
pub mod ks;
pub mod psi;
pub mod report;

pub use drift_score::{DriftScore, feature_reference};

pub fn docs() -> Vec<SqlDoc> {
    vec![DriftScore::DOC]
}

pub fn functions(source: &Arc<dyn ModelSource>) -> Vec<Arc<AggregateUDF>> {
    vec![Arc::new(AggregateUDF::new_from_impl(DriftScore::new(
        Arc::clone(source),
    )))]
}
