//! The data dictionary: markdown generated from the catalog, never written
//! by hand. For every relation of the schemas asked for: its `COMMENT ON`
//! text, its kind, rows (Delta tables, from the log), columns with the type
//! PostgreSQL clients see, NOT NULL and CHECK constraints and each column's
//! comment, a view's SQL, and the models trained on it (by name, from the
//! registry through the small [`ModelUses`] trait, so this layer needs no
//! model code). The system tables of `voidx` get a short section unless
//! `voidx` is asked for by name, then they are described in full.
//!
//! Nothing nondeterministic is printed (no Delta versions, timestamps or
//! locations), so the same catalog gives the same page: docs/data-dictionary.md
//! is this output for `serve --demo`, and a test fails when it is stale.
//!
//! Served as the table function `data_dictionary([schema, …])`, as
//! `GET /v1/docs/data-dictionary` and as `voidx docs data-dictionary`.
//!
//! ```sql
//! SELECT markdown FROM data_dictionary();                  -- every schema
//! SELECT markdown FROM data_dictionary('shop', 'features');
//! ```

use std::collections::BTreeSet;
use std::fmt::Write;
use std::ops::ControlFlow;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::SchemaProvider;
use datafusion::sql::sqlparser::ast::visit_relations;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::catalog::{Catalog, DEFAULT_SCHEMA, Entry, Kind, SYSTEM_SCHEMA};
use super::delta;
use super::provider::Resolver;
use super::system::SystemSchema;
use crate::error::{Result, VoidxError};
use format::{anchor, cell, first_sentence, pretty, thousands};

mod format;
mod function;

pub use format::pg_type;
pub use function::DataDictionary;

/// The schema whose views are labelled "feature view" (the demo's and dbt's
/// convention: `CREATE VIEW features.customer AS …`).
const FEATURE_SCHEMA: &str = "features";

/// What one model version read, as the registry recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelUse {
    pub model: String,
    pub version: i64,
    pub stage: String,
    /// The training query (`None` for imported models).
    pub query: Option<String>,
    pub target: Option<String>,
    /// Feature names in `predict` order.
    pub features: Vec<String>,
    /// `schema.table` of every Delta table the training query read.
    pub tables: Vec<String>,
}

/// The models to cross-reference: one version per model (the registry
/// picks production, else the newest).
pub trait ModelUses: Send + Sync + std::fmt::Debug {
    fn model_uses(&self) -> Vec<ModelUse>;
}

/// One column as the dictionary lists it.
struct Column {
    name: String,
    pg_type: String,
    not_null: bool,
}

/// One relation and what could be learnt about it.
struct Described {
    entry: Entry,
    /// Columns, or why they could not be read (a broken view, a source
    /// that is down): the page says so instead of failing.
    columns: std::result::Result<Vec<Column>, String>,
    rows: Option<i64>,
    checks: Vec<(String, String)>,
}

/// Which schemas a call describes.
struct Wanted {
    user: Vec<String>,
    /// `voidx` named: system tables in full; else a short list (only when
    /// no schema was named).
    system_full: bool,
    system_short: bool,
}

/// Resolve the `schemas` argument: empty = every schema. An unknown name
/// fails (3F000) rather than printing an empty page.
fn wanted(catalog: &Catalog, schemas: &[String]) -> Result<Wanted> {
    let all = catalog.schema_names();
    if schemas.is_empty() {
        return Ok(Wanted {
            user: all.into_iter().filter(|s| s != SYSTEM_SCHEMA).collect(),
            system_full: false,
            system_short: true,
        });
    }
    let mut user = BTreeSet::new();
    let mut system_full = false;
    for asked in schemas {
        let found = [asked.clone(), asked.to_ascii_lowercase()]
            .into_iter()
            .find(|s| s == SYSTEM_SCHEMA || all.contains(s));
        match found {
            Some(s) if s == SYSTEM_SCHEMA => system_full = true,
            Some(s) => {
                user.insert(s);
            }
            None => {
                return Err(VoidxError::UndefinedSchema(format!(
                    "schema \"{asked}\" does not exist. Help: SELECT DISTINCT schema FROM voidx.catalog lists them; voidx is the system tables"
                )));
            }
        }
    }
    Ok(Wanted {
        user: user.into_iter().collect(),
        system_full,
        system_short: false,
    })
}

/// The dictionary of `schemas` (every schema when empty) as markdown.
pub async fn render(
    resolver: &Resolver,
    system: &SystemSchema,
    models: &[ModelUse],
    schemas: &[String],
) -> Result<String> {
    let catalog = &resolver.catalog;
    let wanted = wanted(catalog, schemas)?;
    let mut sections = Vec::new();
    for schema in &wanted.user {
        let mut described = Vec::new();
        for entry in catalog
            .objects()
            .into_iter()
            .filter(|e| &e.schema == schema)
        {
            described.push(describe(resolver, entry).await);
        }
        sections.push((schema.clone(), described));
    }
    let mut out = String::new();
    header(&mut out, catalog, &sections, schemas);
    for (schema, described) in &sections {
        if described.is_empty() {
            continue;
        }
        let _ = writeln!(out, "## Schema `{schema}`\n");
        if let Some(comment) = catalog.schema_comment(schema) {
            let _ = writeln!(out, "{comment}\n");
        }
        summary(&mut out, described);
        for d in described {
            relation(&mut out, d, models);
        }
    }
    if wanted.system_full || wanted.system_short {
        system_tables(&mut out, system, wanted.system_full).await;
    }
    models_section(&mut out, models);
    Ok(out)
}

fn header(
    out: &mut String,
    catalog: &Catalog,
    sections: &[(String, Vec<Described>)],
    schemas: &[String],
) {
    let call = if schemas.is_empty() {
        "data_dictionary()".to_string()
    } else {
        let quoted: Vec<String> = schemas.iter().map(|s| format!("'{s}'")).collect();
        format!("data_dictionary({})", quoted.join(", "))
    };
    let _ = writeln!(out, "# Data dictionary\n");
    let _ = writeln!(
        out,
        "Generated from the catalog by `SELECT markdown FROM {call}` (also `voidx docs \
         data-dictionary` and `GET /v1/docs/data-dictionary`): every relation with its \
         `COMMENT ON` text, its columns with the types PostgreSQL clients see, and the \
         models trained on it. Change the comments (`COMMENT ON SCHEMA | TABLE | VIEW | \
         COLUMN`), not this page.\n"
    );
    let listed: Vec<&(String, Vec<Described>)> =
        sections.iter().filter(|(_, d)| !d.is_empty()).collect();
    if !listed.is_empty() {
        let _ = writeln!(out, "| schema | relations | description |\n|---|---|---|");
        for (schema, described) in &listed {
            let _ = writeln!(
                out,
                "| [`{schema}`](#schema-{}) | {} | {} |",
                anchor(schema),
                counts(described),
                cell(&catalog.schema_comment(schema).unwrap_or_default())
            );
        }
        out.push('\n');
    }
    let empty: Vec<String> = sections
        .iter()
        .filter(|(_, d)| d.is_empty())
        .map(|(s, _)| format!("`{s}`"))
        .collect();
    if !empty.is_empty() {
        let _ = writeln!(out, "Empty schemas: {}.\n", empty.join(", "));
    }
}

/// "6 tables, 2 views": tables, then sources, then views.
fn counts(described: &[Described]) -> String {
    [
        (Kind::Table, "table"),
        (Kind::External, "external table"),
        (Kind::View, "view"),
    ]
    .iter()
    .filter_map(|(kind, noun)| {
        let n = described.iter().filter(|d| d.entry.kind == *kind).count();
        (n > 0).then(|| format!("{n} {noun}{}", if n == 1 { "" } else { "s" }))
    })
    .collect::<Vec<_>>()
    .join(", ")
}

async fn describe(resolver: &Resolver, entry: Entry) -> Described {
    let columns = match resolver.provider(&entry).await {
        Ok(provider) => Ok(columns_of(&provider.schema())),
        Err(e) => Err(e.to_string().lines().next().unwrap_or_default().to_string()),
    };
    let (mut rows, mut checks) = (None, Vec::new());
    if entry.is_delta()
        && let Some(location) = entry.location.as_deref()
        && let Ok(table) = resolver.catalog.delta_table(location).await
    {
        rows = delta::stats(&table).ok().map(|(r, _)| r);
        if let Ok(snapshot) = table.snapshot() {
            checks = snapshot
                .metadata()
                .configuration()
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix("delta.constraints.")
                        .map(|n| (n.to_string(), v.clone()))
                })
                .collect();
            checks.sort();
        }
    }
    Described {
        entry,
        columns,
        rows,
        checks,
    }
}

fn columns_of(schema: &SchemaRef) -> Vec<Column> {
    schema
        .fields()
        .iter()
        .map(|f| Column {
            name: f.name().clone(),
            pg_type: pg_type(f.data_type()),
            not_null: !f.is_nullable(),
        })
        .collect()
}

fn kind_label(e: &Entry) -> String {
    match e.kind {
        Kind::View if e.schema == FEATURE_SCHEMA => "feature view".into(),
        Kind::View => "view".into(),
        Kind::External => format!(
            "external table ({})",
            e.format.as_deref().unwrap_or("unknown format")
        ),
        _ => "table".into(),
    }
}

fn summary(out: &mut String, described: &[Described]) {
    let _ = writeln!(
        out,
        "| relation | kind | rows | description |\n|---|---|---:|---|"
    );
    for d in described {
        let q = d.entry.qualified();
        let _ = writeln!(
            out,
            "| [`{q}`](#{}) | {} | {} | {} |",
            anchor(&q),
            kind_label(&d.entry),
            d.rows.map(thousands).unwrap_or_default(),
            cell(first_sentence(d.entry.comment.as_deref().unwrap_or("")))
        );
    }
    out.push('\n');
}

/// `schema.name` of every relation `sql` names; unqualified names are in
/// `public`. Empty when the SQL does not parse.
fn named_relations(sql: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let Ok(statements) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else {
        return names;
    };
    for stmt in &statements {
        let _ = visit_relations(stmt, |name| {
            let parts: Vec<String> = name
                .0
                .iter()
                .map(|p| match p.as_ident() {
                    Some(i) if i.quote_style.is_some() => i.value.clone(),
                    Some(i) => i.value.to_ascii_lowercase(),
                    None => p.to_string(),
                })
                .collect();
            let qualified = match parts.as_slice() {
                [table] => format!("{DEFAULT_SCHEMA}.{table}"),
                [.., schema, table] => format!("{schema}.{table}"),
                [] => String::new(),
            };
            names.insert(qualified);
            ControlFlow::<()>::Continue(())
        });
    }
    names
}

fn model_label(m: &ModelUse) -> String {
    format!("`{}` v{} ({})", m.model, m.version, m.stage)
}

/// What `column` is to `m`: "feature 3", "target", or nothing.
fn column_role(m: &ModelUse, column: &str) -> Option<String> {
    if m.target.as_deref() == Some(column) {
        return Some("target".into());
    }
    m.features
        .iter()
        .position(|f| f == column)
        .map(|i| format!("feature {}", i + 1))
}

fn relation(out: &mut String, d: &Described, models: &[ModelUse]) {
    let e = &d.entry;
    let q = e.qualified();
    let _ = writeln!(out, "### `{q}`\n");
    match &e.comment {
        Some(c) => {
            let _ = writeln!(out, "{c}\n");
        }
        None => {
            let what = if e.kind == Kind::View {
                "VIEW"
            } else {
                "TABLE"
            };
            let _ = writeln!(
                out,
                "_No description yet: `COMMENT ON {what} {q} IS '…'` adds one._\n"
            );
        }
    }
    let direct: Vec<&ModelUse> = models
        .iter()
        .filter(|m| {
            m.query
                .as_deref()
                .is_some_and(|sql| named_relations(sql).contains(&q))
        })
        .collect();
    let through: Vec<&ModelUse> = models
        .iter()
        .filter(|m| m.tables.contains(&q) && !direct.contains(m))
        .collect();
    let mut facts = vec![kind_label(e)];
    if let Some(rows) = d.rows {
        facts.push(format!("{} rows", thousands(rows)));
    }
    if !direct.is_empty() {
        let names: Vec<String> = direct.iter().map(|m| model_label(m)).collect();
        facts.push(format!("training data of {}", names.join(", ")));
    }
    if !through.is_empty() {
        let names: Vec<String> = through.iter().map(|m| model_label(m)).collect();
        facts.push(format!(
            "read (through views) to train {}",
            names.join(", ")
        ));
    }
    let _ = writeln!(out, "{}\n", facts.join(" · "));
    columns_table(out, d, &direct);
    if !d.checks.is_empty() {
        let _ = writeln!(out, "Constraints:\n");
        for (name, sql) in &d.checks {
            let _ = writeln!(out, "* `{name}`: `CHECK ({sql})`");
        }
        out.push('\n');
    }
    if let Some(definition) = &e.definition {
        let shown = if e.kind == Kind::External {
            crate::ingest::sources::secrets::redact_definition(definition)
        } else {
            definition.clone()
        };
        let _ = writeln!(
            out,
            "<details><summary>Definition</summary>\n\n```sql\n{}\n```\n\n</details>\n",
            pretty(shown.trim())
        );
    }
}

fn columns_table(out: &mut String, d: &Described, direct: &[&ModelUse]) {
    let columns = match &d.columns {
        Ok(c) => c,
        Err(why) => {
            let _ = writeln!(out, "Columns unavailable: {}\n", cell(why));
            return;
        }
    };
    let with_models = !direct.is_empty();
    let _ = write!(out, "| # | column | type | not null | description |");
    if with_models {
        let _ = write!(out, " use in models |");
    }
    let _ = write!(out, "\n|---:|---|---|---|---|");
    if with_models {
        let _ = write!(out, "---|");
    }
    out.push('\n');
    for (i, c) in columns.iter().enumerate() {
        let comment = d
            .entry
            .column_comments
            .get(&c.name)
            .map(|t| cell(t))
            .unwrap_or_default();
        let _ = write!(
            out,
            "| {} | `{}` | {} | {} | {comment} |",
            i + 1,
            c.name,
            c.pg_type,
            if c.not_null { "yes" } else { "" }
        );
        if with_models {
            let roles: Vec<String> = direct
                .iter()
                .filter_map(|m| {
                    let role = column_role(m, &c.name)?;
                    Some(if direct.len() == 1 {
                        role
                    } else {
                        format!("{}: {role}", m.model)
                    })
                })
                .collect();
            let _ = write!(out, " {} |", roles.join("; "));
        }
        out.push('\n');
    }
    out.push('\n');
}

async fn system_tables(out: &mut String, system: &SystemSchema, full: bool) {
    let _ = writeln!(out, "## System tables (`voidx`)\n");
    let _ = writeln!(
        out,
        "Delta tables the server keeps (registry, runs, prediction log, jobs, alerts, \
         the catalog itself); read-only to SQL. {}\n",
        if full {
            "Columns below."
        } else {
            "Columns in brief; `data_dictionary('voidx')` lists them as tables."
        }
    );
    for name in system.table_names() {
        let columns = match system.table(&name).await {
            Ok(Some(provider)) => Ok(columns_of(&provider.schema())),
            Ok(None) => continue,
            Err(e) => Err(e.to_string()),
        };
        if full {
            let _ = writeln!(out, "### `voidx.{name}`\n");
            let entry = Entry {
                schema: SYSTEM_SCHEMA.into(),
                name: name.clone(),
                kind: Kind::Table,
                location: None,
                definition: None,
                format: None,
                created_at_ms: 0,
                comment: None,
                column_comments: Default::default(),
            };
            let d = Described {
                entry,
                columns,
                rows: None,
                checks: Vec::new(),
            };
            columns_table(out, &d, &[]);
            continue;
        }
        let listed = match columns {
            Ok(columns) => columns
                .iter()
                .map(|c| format!("{} {}", c.name, c.pg_type))
                .collect::<Vec<_>>()
                .join(", "),
            Err(why) => format!("columns unavailable: {why}"),
        };
        let _ = writeln!(out, "* `voidx.{name}`: {}", cell(&listed));
    }
    out.push('\n');
}

fn models_section(out: &mut String, models: &[ModelUse]) {
    if models.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Models and what they read\n");
    let _ = writeln!(
        out,
        "| model | training query | target | features | Delta tables read |\n|---|---|---|---:|---|"
    );
    for m in models {
        let tables: Vec<String> = m.tables.iter().map(|t| format!("`{t}`")).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            model_label(m),
            m.query
                .as_deref()
                .map(|q| format!("`{}`", cell(q)))
                .unwrap_or_else(|| "imported".into()),
            m.target
                .as_deref()
                .map(|t| format!("`{t}`"))
                .unwrap_or_default(),
            m.features.len(),
            tables.join(", ")
        );
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relations_a_query_names() {
        let names = named_relations(
            "SELECT * FROM features.customer_revenue_v2 v JOIN orders o ON o.id = v.id \
             JOIN \"Shop\".\"Big\" b ON true",
        );
        let expected: BTreeSet<String> =
            ["features.customer_revenue_v2", "public.orders", "Shop.Big"]
                .into_iter()
                .map(String::from)
                .collect();
        assert_eq!(names, expected);
        assert!(named_relations("SELEC").is_empty());
    }

    #[test]
    fn a_column_is_a_feature_or_the_target_by_name() {
        let m = ModelUse {
            model: "m".into(),
            version: 1,
            stage: "production".into(),
            query: Some("SELECT * FROM t".into()),
            target: Some("y".into()),
            features: vec!["a".into(), "b".into()],
            tables: vec!["public.t".into()],
        };
        assert_eq!(column_role(&m, "b").as_deref(), Some("feature 2"));
        assert_eq!(column_role(&m, "y").as_deref(), Some("target"));
        assert_eq!(column_role(&m, "id"), None);
    }
}
