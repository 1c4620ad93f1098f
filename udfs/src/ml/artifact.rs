//! What the registry stores per model version besides its catalog row:
//! the forest, the task, conformal residuals and training references.

use serde::{Deserialize, Serialize};

use crate::ml::MlError;
use crate::ml::conformal::Conformal;
use crate::ml::forest::Forest;
use crate::ml::options::Task;
use crate::ml::reference::FeatureReference;
use crate::ml::segments::Segment;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelArtifact {
    pub forest: Forest,
    pub task: Task,
    /// `squared_error`, `absolute_error`, `log_loss`, or an imported model's objective.
    pub objective: String,
    /// Missing for models trained without cross-validation and for imports.
    pub conformal: Option<Conformal>,
    /// One per feature, in feature order; empty for imported models.
    pub reference: Vec<FeatureReference>,
    /// Out-of-fold errors by slices of the most important features, for
    /// the model card; empty without cross-validation, for imports and for
    /// models trained before it was recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Segment>,
}

impl ModelArtifact {
    pub fn to_json(&self) -> Result<String, MlError> {
        serde_json::to_string(self)
            .map_err(|e| MlError::InvalidModel(format!("cannot serialise the model: {e}")))
    }

    pub fn from_json(json: &str) -> Result<ModelArtifact, MlError> {
        serde_json::from_str(json)
            .map_err(|e| MlError::InvalidModel(format!("stored model artifact is unreadable: {e}")))
    }
}
