//! The options of `ingest` (the JSON third argument): mode, key, watermark, schema_mode.

use serde::Deserialize;

use crate::error::{Result, VoidxError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub(super) enum Mode {
    #[default]
    Append,
    Merge,
    Overwrite,
}

impl Mode {
    pub(super) fn as_str(&self) -> &'static str {
        match self {
            Mode::Append => "append",
            Mode::Merge => "merge",
            Mode::Overwrite => "overwrite",
        }
    }
}

/// What happens when the source's columns differ from the target's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub(super) enum SchemaMode {
    /// New source columns fail the batch.
    #[default]
    Strict,
    /// New source columns are added to the target (nullable).
    Evolve,
    /// New source columns are dropped.
    Ignore,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum Keys {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct IngestOptions {
    pub(super) mode: Mode,
    pub(super) key: Option<Keys>,
    pub(super) watermark: Option<String>,
    pub(super) schema_mode: SchemaMode,
}

impl IngestOptions {
    pub(crate) fn parse(text: &str) -> Result<IngestOptions> {
        let options: IngestOptions = serde_json::from_str(text).map_err(|e| {
            VoidxError::InvalidArgument(format!(
                "ingest options are not valid: {e}. Help: a JSON object such as \
                 {{\"mode\": \"merge\", \"key\": \"order_id\", \"watermark\": \"updated_at\", \
                 \"schema_mode\": \"strict\"}}; mode is append | merge | overwrite, \
                 schema_mode is strict | evolve | ignore"
            ))
        })?;
        if options.mode == Mode::Merge && options.keys().is_empty() {
            return Err(VoidxError::InvalidArgument(
                "ingest mode 'merge' needs a key. Help: add \"key\": \"id\" (or a list of columns)"
                    .into(),
            ));
        }
        if options.mode == Mode::Merge && options.schema_mode == SchemaMode::Evolve {
            return Err(VoidxError::Unsupported(
                "schema_mode 'evolve' is not supported with mode 'merge'. Help: run one \
                 append with schema_mode 'evolve' first, or add the column with a new table"
                    .into(),
            ));
        }
        Ok(options)
    }

    pub(super) fn keys(&self) -> Vec<String> {
        match &self.key {
            None => Vec::new(),
            Some(Keys::One(k)) => vec![k.clone()],
            Some(Keys::Many(v)) => v.clone(),
        }
    }
}
