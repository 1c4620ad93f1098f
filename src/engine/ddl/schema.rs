//! `CREATE SCHEMA [IF NOT EXISTS] [catalog.]name`.

use crate::engine::{CommandTag, Engine};
use crate::error::{Result, VoidxError};
use crate::storage::relations::create_schema as store_schema;

pub(super) async fn create_schema(
    engine: &Engine,
    raw: &str,
    if_not_exists: bool,
) -> Result<CommandTag> {
    let schema = match raw.split_once('.') {
        Some((catalog, schema)) if catalog.trim_matches('"') == engine.catalog_name => schema,
        Some(_) => {
            return Err(VoidxError::Unsupported(format!(
                "cannot create schema {raw} in another database"
            )));
        }
        None => raw,
    };
    let schema = schema.trim_matches('"');
    store_schema(&engine.catalog, schema, if_not_exists).await?;
    Ok(CommandTag::new("CREATE SCHEMA"))
}
