//! `CREATE [OR REPLACE] VIEW`, and which relations a view reads (what
//! `DROP` needs to find dependents). Views are stored as SQL and bound late,
//! their unnamed columns named as PostgreSQL names them (`count`, not
//! `count(*)`).

use std::collections::BTreeSet;

use datafusion::logical_expr::CreateView;
use datafusion::sql::parser::{DFParserBuilder, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::Statement as PgStatement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

use super::names::{check_existing, split_reference, target_for_create};
use crate::engine::{CommandTag, Engine, column_names};
use crate::error::{Result, VoidxError};
use crate::storage::catalog::{self, Entry, Kind, now_ms};

pub(super) async fn create_view(engine: &Engine, cmd: CreateView) -> Result<CommandTag> {
    if cmd.temporary {
        return Err(VoidxError::Unsupported(
            "temporary views are not supported; create a regular view".into(),
        ));
    }
    let (schema, name) = target_for_create(engine, &cmd.name)?;
    let existing = engine.catalog.get(&schema, &name);
    let or_replace = cmd.or_replace;
    check_existing(existing.as_ref(), Kind::View, false, or_replace)?;
    let definition = cmd
        .definition
        .map(with_postgres_column_names)
        .ok_or_else(|| VoidxError::Internal("view without a definition".into()))?;
    // As in PostgreSQL, CREATE OR REPLACE VIEW keeps the view's comments.
    let kept = existing.filter(|e| e.kind == Kind::View);
    let entry = Entry {
        schema,
        name,
        kind: Kind::View,
        location: None,
        definition: Some(definition),
        format: None,
        created_at_ms: now_ms(),
        comment: kept.as_ref().and_then(|e| e.comment.clone()),
        column_comments: kept.map(|e| e.column_comments).unwrap_or_default(),
    };
    if reads_from(engine, &entry)
        .await
        .contains(&(entry.schema.clone(), entry.name.clone()))
    {
        return Err(VoidxError::InvalidArgument(format!(
            "view \"{}\" would read from itself",
            entry.qualified()
        )));
    }
    engine
        .catalog
        .commit_change(|m| {
            // Again on the latest catalog: another server may have created it.
            check_existing(m.get(&catalog::key(&entry)), Kind::View, false, or_replace)?;
            m.insert(catalog::key(&entry), entry.clone());
            Ok(())
        })
        .await?;
    Ok(CommandTag::new("CREATE VIEW"))
}

/// The definition with its unnamed columns aliased to PostgreSQL's names
/// ([`crate::engine::column_names::alias_view_columns`]); as written when
/// it names its columns itself, or when the names would repeat.
fn with_postgres_column_names(definition: String) -> String {
    let parsed = DFParserBuilder::new(definition.as_str())
        .with_dialect(&PostgreSqlDialect {})
        .build()
        .and_then(|mut p| p.parse_statements());
    let Ok(mut statements) = parsed else {
        return definition;
    };
    match statements.pop_front() {
        Some(DfStatement::Statement(mut stmt)) if statements.is_empty() => {
            if let PgStatement::CreateView(view) = stmt.as_mut()
                && view.columns.is_empty()
                && column_names::alias_view_columns(&mut view.query)
            {
                return stmt.to_string();
            }
            definition
        }
        _ => definition,
    }
}

/// The relations a view reads, as (schema, name).
pub(super) async fn reads_from(engine: &Engine, view: &Entry) -> BTreeSet<(String, String)> {
    let Some(sql) = view.definition.as_deref() else {
        return BTreeSet::new();
    };
    let parsed = DFParserBuilder::new(sql)
        .with_dialect(&PostgreSqlDialect {})
        .build()
        .and_then(|mut p| p.parse_statements());
    let Ok(statements) = parsed else {
        return BTreeSet::new();
    };
    let state = engine.ctx.state();
    let mut out = BTreeSet::new();
    for statement in statements {
        if let Ok(refs) = state.resolve_table_references(&statement) {
            for r in refs {
                if let Ok(pair) = split_reference(engine, &r) {
                    out.insert(pair);
                }
            }
        }
    }
    out
}

/// Views that (transitively) read any of `targets`, excluding the targets.
pub(super) async fn dependents(
    engine: &Engine,
    targets: &BTreeSet<(String, String)>,
) -> Vec<Entry> {
    let views: Vec<Entry> = engine
        .catalog
        .objects()
        .into_iter()
        .filter(|e| e.kind == Kind::View)
        .collect();
    let mut reads = Vec::with_capacity(views.len());
    for v in &views {
        reads.push(reads_from(engine, v).await);
    }
    let mut closed: BTreeSet<(String, String)> = targets.clone();
    let mut found = Vec::new();
    loop {
        let before = found.len();
        for (view, r) in views.iter().zip(&reads) {
            let k = (view.schema.clone(), view.name.clone());
            if !closed.contains(&k) && r.iter().any(|x| closed.contains(x)) {
                closed.insert(k);
                found.push(view.clone());
            }
        }
        if found.len() == before {
            return found;
        }
    }
}
