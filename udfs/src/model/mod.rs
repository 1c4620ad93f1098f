//! The serving functions: `predict`, `predict_interval`, `shap_explain`.
//!
//! They look models up through a [`ModelSource`] (the server's registry), so
//! this crate stays free of storage and network code. Each function resolves
//! its model once per batch; the artifact is shared, never copied.

use std::sync::Arc;

use crate::SqlFunction;
use crate::ml::MlError;
use crate::ml::artifact::ModelArtifact;

pub(crate) mod features;
mod predict;
mod predict_interval;
mod shap_explain;

pub use predict::Predict;
pub use predict_interval::PredictInterval;
pub use shap_explain::ShapExplain;

/// What every serving function holds: where models come from and its
/// signature (user-defined: the functions coerce their own arguments).
#[derive(Debug)]
pub(crate) struct Serving {
    pub source: Arc<dyn ModelSource>,
    pub signature: datafusion::logical_expr::Signature,
}

impl Serving {
    pub fn new(source: Arc<dyn ModelSource>) -> Self {
        Serving {
            source,
            signature: datafusion::logical_expr::Signature::user_defined(
                datafusion::logical_expr::Volatility::Stable,
            ),
        }
    }
}

impl PartialEq for Serving {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.source, &other.source)
    }
}

impl Eq for Serving {}

impl std::hash::Hash for Serving {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.source) as *const () as usize).hash(state);
    }
}

/// A model version ready to serve.
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    pub name: String,
    pub version: i64,
    pub artifact: Arc<ModelArtifact>,
}

/// Where serving functions find models: `name` (the production version) or
/// `name@version` (a pinned version).
pub trait ModelSource: Send + Sync + std::fmt::Debug {
    fn resolve(&self, spec: &str) -> Result<ResolvedModel, MlError>;
}

/// The serving functions, each with its documentation.
pub fn functions(source: &Arc<dyn ModelSource>) -> Vec<SqlFunction> {
    vec![
        SqlFunction::scalar(Predict::new(Arc::clone(source))),
        SqlFunction::scalar(PredictInterval::new(Arc::clone(source))),
        SqlFunction::scalar(ShapExplain::new(Arc::clone(source))),
    ]
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::ml::conformal::Conformal;
    use crate::ml::forest::{ForestBuilder, Link, SplitRule, TreeNode};
    use crate::ml::options::Task;

    /// `m`: 2 features (a, b); a < 0.5 → 1 else 3, plus b < 0 → -1 else +1.
    #[derive(Debug)]
    pub struct OneModel;

    impl ModelSource for OneModel {
        fn resolve(&self, spec: &str) -> Result<ResolvedModel, MlError> {
            if spec != "m" && spec != "m@1" {
                return Err(MlError::UnknownModel(format!(
                    "model \"{spec}\" does not exist"
                )));
            }
            let mut b = ForestBuilder::new(
                vec!["a".into(), "b".into()],
                Link::Identity,
                SplitRule::LessF32,
                0.0,
            );
            b.add_tree(&[
                TreeNode::split(0, 0.5, 1, 2, true, 4.0),
                TreeNode::leaf(1.0, 2.0),
                TreeNode::leaf(3.0, 2.0),
            ])
            .map_err(|e| MlError::InvalidModel(e.to_string()))?;
            b.add_tree(&[
                TreeNode::split(1, 0.0, 1, 2, false, 4.0),
                TreeNode::leaf(-1.0, 2.0),
                TreeNode::leaf(1.0, 2.0),
            ])
            .map_err(|e| MlError::InvalidModel(e.to_string()))?;
            Ok(ResolvedModel {
                name: "m".into(),
                version: 1,
                artifact: Arc::new(ModelArtifact {
                    forest: b.build(),
                    task: Task::Regression,
                    objective: "squared_error".into(),
                    conformal: Conformal::from_residuals((1..=99).map(f64::from).collect()),
                    reference: Vec::new(),
                    segments: Vec::new(),
                }),
            })
        }
    }

    pub fn source() -> Arc<dyn ModelSource> {
        Arc::new(OneModel)
    }
}
