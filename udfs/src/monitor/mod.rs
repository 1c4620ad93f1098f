//! Monitoring kernels and functions: population stability index over a
//! model's training reference ([`psi`]), Kolmogorov–Smirnov statistics
//! ([`ks`]), a seeded bootstrap for A/B differences ([`bootstrap`]) and the
//! `drift_score` aggregate.
//!
//! ```sql
//! SELECT drift_score('revenue_predictor', 'recency', recency) FROM features.customer;
//! ```

use std::sync::Arc;

use crate::SqlFunction;
use crate::model::ModelSource;

pub mod bootstrap;
mod drift_score;
pub mod ks;
pub mod psi;
pub mod report;

pub use drift_score::{DriftScore, feature_reference};

/// The monitoring aggregates, each with its documentation.
pub fn functions(source: &Arc<dyn ModelSource>) -> Vec<SqlFunction> {
    vec![SqlFunction::aggregate(DriftScore::new(Arc::clone(source)))]
}
