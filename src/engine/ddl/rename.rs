//! `ALTER TABLE | VIEW … RENAME TO`: one catalog commit; the data stays
//! where it is.

use datafusion::sql::sqlparser::ast::ObjectName;

use super::names::split_name;
use crate::engine::{CommandTag, Engine};
use crate::error::{Result, VoidxError};
use crate::storage::catalog::{self, Entry, Kind};
use crate::storage::relations::relation_exists_error;

pub(super) async fn rename(
    engine: &Engine,
    from: &ObjectName,
    to: &ObjectName,
    if_exists: bool,
) -> Result<CommandTag> {
    let (schema, name) = split_name(engine, from)?;
    let Some(entry) = engine.catalog.get(&schema, &name) else {
        if if_exists {
            return Ok(CommandTag::new("ALTER TABLE"));
        }
        return Err(VoidxError::UndefinedTable(format!(
            "relation \"{schema}.{name}\" does not exist"
        )));
    };
    let (to_schema, to_name) = match split_name(engine, to)? {
        (_, n) if to.0.len() == 1 => (schema.clone(), n),
        pair => pair,
    };
    if to_schema != schema {
        return Err(VoidxError::Unsupported(
            "ALTER … RENAME TO cannot move a relation to another schema; give the new name without a schema".into(),
        ));
    }
    if let Some(existing) = engine.catalog.get(&to_schema, &to_name) {
        return Err(relation_exists_error(&existing));
    }
    let renamed = Entry {
        name: to_name,
        ..entry.clone()
    };
    engine
        .catalog
        .commit_change(|m| {
            // Again on the latest catalog: another server may have renamed,
            // dropped or replaced either name meanwhile.
            if let Some(existing) = m.get(&catalog::key(&renamed)) {
                return Err(relation_exists_error(existing));
            }
            if m.remove(&catalog::key(&entry)).as_ref() != Some(&entry) {
                return Err(VoidxError::UndefinedTable(format!(
                    "relation \"{}\" changed while it was being renamed. Help: run the statement again",
                    entry.qualified()
                )));
            }
            m.insert(catalog::key(&renamed), renamed.clone());
            Ok(())
        })
        .await?;
    engine.resolver.forget_external(&entry);
    Ok(CommandTag::new(if entry.kind == Kind::View {
        "ALTER VIEW"
    } else {
        "ALTER TABLE"
    }))
}
