//! Pieces of psql's `\d+` and `\dn+` queries that DataFusion cannot run,
//! replaced before parsing by what they always mean here, as
//! datafusion-postgres' own list does for `\d` (token patterns for whole
//! queries). Each entry names why; it can go when the reason does.
//!
//! * `\d+ table`: `array_to_string(c.reloptions || array(select 'toast.' || x
//!   from unnest(tc.reloptions) x), ', ')` — an `ARRAY(subquery)`
//!   correlated with a TOAST table; VOIDX relations have no storage options
//!   and no TOAST tables, so it is `''` (what PostgreSQL prints for none).
//! * `\dn+`: `array_to_string(n.nspacl, E'\n')` — `nspacl` is a text
//!   column in datafusion-pg-catalog, not an `aclitem[]`; schemas have no
//!   ACLs here, so it is NULL.
//! * `\d+ view`: `SELECT pg_catalog.pg_get_viewdef('<oid>'::pg_catalog.oid,
//!   true)` — no such function; the view's stored query, looked up in
//!   `pg_views` by OID, through `voidx_view_query` (the `SELECT` part of a
//!   stored `CREATE VIEW`).
//!
//! ```
//! # use voidx::engine::psql_queries::substitute;
//! let sql = "SELECT pg_catalog.pg_get_viewdef('16400'::pg_catalog.oid, true);";
//! assert!(substitute(sql).contains("pg_views"));
//! ```

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{Array, AsArray, StringArray};
use arrow::datatypes::DataType;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Fragments psql sends, and what they become (see the module docs).
const FRAGMENTS: &[(&str, &str)] = &[
    (
        "pg_catalog.array_to_string(c.reloptions || array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x), ', ')",
        "''",
    ),
    (
        "pg_catalog.array_to_string(n.nspacl, E'\\n')",
        "CAST(NULL AS TEXT)",
    ),
];

const VIEWDEF_CALL: &str = "SELECT pg_catalog.pg_get_viewdef('";
const VIEWDEF_TAIL: &str = "'::pg_catalog.oid, true)";

/// `sql` with psql's unsupported fragments replaced; unchanged (borrowed)
/// when it has none.
pub fn substitute(sql: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(sql);
    for (fragment, replacement) in FRAGMENTS {
        if out.contains(fragment) {
            out = Cow::Owned(out.replace(fragment, replacement));
        }
    }
    if let Some(viewdef) = viewdef_query(&out) {
        return Cow::Owned(viewdef);
    }
    out
}

/// psql's `SELECT pg_catalog.pg_get_viewdef('<oid>'::pg_catalog.oid, true);`
/// as a lookup of the view's query in `pg_views`.
fn viewdef_query(sql: &str) -> Option<String> {
    let rest = sql.trim().strip_prefix(VIEWDEF_CALL)?;
    let (oid, tail) = rest.split_once(VIEWDEF_TAIL)?;
    if !tail.trim().trim_end_matches(';').trim().is_empty() || oid.parse::<u32>().is_err() {
        return None;
    }
    Some(format!(
        "SELECT voidx_view_query(v.definition) AS pg_get_viewdef \
         FROM pg_catalog.pg_views v \
         JOIN pg_catalog.pg_namespace n ON n.nspname = v.schemaname \
         JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = v.viewname \
         WHERE c.oid = {oid}"
    ))
}

/// The query of a stored `CREATE VIEW … AS <query>`, as PostgreSQL's
/// `pg_get_viewdef` shows it (the `SELECT` alone, ending in `;`).
fn view_query(definition: &str) -> String {
    match Parser::parse_sql(&PostgreSqlDialect {}, definition) {
        Ok(statements) => match statements.as_slice() {
            [Statement::CreateView(view)] => format!(" {};", view.query),
            _ => definition.to_string(),
        },
        Err(_) => definition.to_string(),
    }
}

/// Registers `voidx_view_query(text)`, which the `\d+ view` lookup calls.
pub fn register_functions(ctx: &SessionContext) {
    ctx.register_udf(create_udf(
        "voidx_view_query",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let text = arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
            let text = text.as_string::<i32>();
            let out: StringArray = (0..text.len())
                .map(|i| (!text.is_null(i)).then(|| view_query(text.value(i))))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psql_fragments_are_replaced() {
        let sql = "SELECT c.relispartition, pg_catalog.array_to_string(c.reloptions || array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x), ', ')\n, c.reltablespace FROM pg_catalog.pg_class c";
        assert_eq!(
            substitute(sql),
            "SELECT c.relispartition, ''\n, c.reltablespace FROM pg_catalog.pg_class c"
        );
        assert!(matches!(substitute("SELECT 1"), Cow::Borrowed(_)));
        assert!(
            viewdef_query("SELECT pg_catalog.pg_get_viewdef('1; DROP'::pg_catalog.oid, true)")
                .is_none()
        );
    }

    #[test]
    fn view_queries_drop_the_create() {
        assert_eq!(
            view_query("CREATE VIEW v AS SELECT count(*) AS \"count\" FROM t"),
            " SELECT count(*) AS \"count\" FROM t;"
        );
    }
}
