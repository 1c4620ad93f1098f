//! What each model was trained on, for the data dictionary
//! ([`crate::storage::dictionary`]): the registry implements the storage
//! layer's small [`ModelUses`] trait, so the dictionary cross-references
//! models without depending on this layer.
//!
//! ```no_run
//! # fn f(registry: &voidx::model::registry::Registry) {
//! use voidx::storage::dictionary::ModelUses;
//! for used in registry.model_uses() {
//!     println!("{} v{} reads {:?}", used.model, used.version, used.tables);
//! }
//! # }
//! ```

use std::collections::{BTreeMap, BTreeSet};

use super::registry::Registry;
use crate::storage::dictionary::{ModelUse, ModelUses};

impl ModelUses for Registry {
    /// One version per model, as the model card picks it: production, else
    /// the newest. Ordered by model name.
    fn model_uses(&self) -> Vec<ModelUse> {
        let names: BTreeSet<String> = self.versions().into_iter().map(|v| v.name).collect();
        names
            .into_iter()
            .filter_map(|name| {
                let newest = self
                    .versions()
                    .into_iter()
                    .filter(|v| v.name == name)
                    .map(|v| v.version)
                    .max()?;
                let wanted = self.production(&name).unwrap_or(newest);
                let v = self.version(&name, wanted)?;
                let tables: BTreeMap<String, i64> =
                    serde_json::from_str(&v.data_versions).unwrap_or_default();
                Some(ModelUse {
                    model: v.name,
                    version: v.version,
                    stage: v.stage,
                    query: v.query,
                    target: v.target,
                    features: serde_json::from_str(&v.features).unwrap_or_default(),
                    tables: tables.into_keys().collect(),
                })
            })
            .collect()
    }
}
