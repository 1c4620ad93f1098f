//! The ML engine: one forest representation ([`forest`]) and everything that
//! produces or consumes it — training, cross-validation, search, ensembles,
//! TreeSHAP, conformal intervals, reference histograms and model import.

pub mod artifact;
pub mod conformal;
pub mod cv;
pub mod dataset;
pub mod ensemble;
pub mod forest;
pub mod gbdt_trainer;
pub mod hist;
pub mod import;
pub mod metrics;
pub mod options;
pub mod reference;
pub mod search;
pub mod segments;
pub mod shap;
pub mod train;

/// Errors of the ML engine. Messages say what to do next; the server maps
/// them to SQLSTATEs.
#[derive(Debug, thiserror::Error)]
pub enum MlError {
    /// The training data or a prediction input is unusable.
    #[error("{0}")]
    InvalidInput(String),
    /// An option value is wrong.
    #[error("{0}")]
    InvalidOption(String),
    /// A model file or artifact is malformed.
    #[error("invalid model: {0}")]
    InvalidModel(String),
    /// No model or model version by that name (42704).
    #[error("{0}")]
    UnknownModel(String),
    /// A feature the engine does not offer yet.
    #[error("{0}")]
    Unsupported(String),
}
