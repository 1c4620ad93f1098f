//! Catalog queries of ORMs and BI tools (SQLAlchemy's reflection, which
//! Superset runs; DBeaver, Metabase) rewritten, after parsing, into forms
//! DataFusion plans with the same meaning. Each rule says why; unlike
//! [`super::psql_queries`] they match shapes of the syntax tree, not text,
//! so bind parameters and spelling do not matter.
//!
//! * `x LIKE p ESCAPE 'c'` (c not a backslash) → `x LIKE voidx_like_escape(p, 'c')`:
//!   DataFusion's LIKE escapes with a backslash only; the function rewrites
//!   the pattern to backslash escapes (SQLAlchemy's `get_schema_names`
//!   sends `NOT LIKE 'pg/_' || '%' ESCAPE '/'`).
//! * A scalar subquery over catalog relations only (`pg_catalog.*`, `pg_*`,
//!   `information_schema.*`) that selects one unaggregated expression →
//!   `first_value(expr)`: DataFusion plans a correlated scalar subquery only
//!   when it is aggregated. Catalog lookups are by key (an OID, an attnum),
//!   so they have at most one row and the aggregate changes nothing; user
//!   tables are left alone (there PostgreSQL's "more than one row" error
//!   must stay an error).
//! * `generate_subscripts(a, d)` → `unnest(generate_series(1, array_length(a, d)))`:
//!   the same row numbers, zipped with an `unnest(a)` of the same projection.
//! * `pg_get_viewdef(oid [, pretty])` → the view's stored query, looked up in
//!   `pg_views` by OID (a correlated subquery; SQLAlchemy's
//!   `get_view_definition`).
//!
//! ```sql
//! SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname NOT LIKE 'pg/_%' ESCAPE '/';
//! ```

use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::array::{Array, AsArray, StringArray};
use arrow::datatypes::DataType;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, ObjectName, Query,
    SelectItem, SetExpr, Statement, TableFactor, Value, VisitMut, VisitorMut, visit_expressions,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Aggregates a catalog subquery may already call (then it is left alone).
const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "first_value",
    "last_value",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
];

/// Applies every rule above to `stmt`, in place.
pub fn rewrite(stmt: &mut Statement) {
    let _ = stmt.visit(&mut Rules);
}

struct Rules;

impl VisitorMut for Rules {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let replacement = match expr {
            Expr::Like {
                pattern,
                escape_char,
                ..
            }
            | Expr::ILike {
                pattern,
                escape_char,
                ..
            } => {
                if let Some(c) = escape_char.as_ref().and_then(|v| escape_of(&v.value))
                    && let Some(p) = parse_expr(&format!(
                        "voidx_like_escape({pattern}, '{}')",
                        c.replace('\'', "''")
                    ))
                {
                    **pattern = p;
                    *escape_char = None;
                }
                None
            }
            Expr::Subquery(query) => {
                aggregate_catalog_lookup(query);
                None
            }
            Expr::Function(f) => match (
                function_name(&f.name).as_deref(),
                args_of(&f.args).as_deref(),
            ) {
                (Some("generate_subscripts"), Some([a, d])) => parse_expr(&format!(
                    "unnest(generate_series(1, array_length({a}, {d})))"
                )),
                (Some("pg_get_viewdef"), Some(args)) if !args.is_empty() => {
                    viewdef_lookup(args[0], args.get(1).copied())
                }
                _ => None,
            },
            _ => None,
        };
        if let Some(r) = replacement {
            *expr = r;
        }
        ControlFlow::Continue(())
    }
}

/// The escape character of `ESCAPE 'c'`, when it is not DataFusion's own.
fn escape_of(value: &Value) -> Option<String> {
    match value {
        Value::SingleQuotedString(c) | Value::EscapedStringLiteral(c)
            if c.chars().count() == 1 && c != "\\" =>
        {
            Some(c.clone())
        }
        _ => None,
    }
}

fn parse_expr(sql: &str) -> Option<Expr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .ok()?
        .parse_expr()
        .ok()
}

/// The last part of a function name, lower-cased (`pg_catalog.f` → `f`).
fn function_name(name: &ObjectName) -> Option<String> {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.to_lowercase())
}

/// The plain positional arguments of a call, when it has only those.
fn args_of(args: &FunctionArguments) -> Option<Vec<&Expr>> {
    let FunctionArguments::List(list) = args else {
        return None;
    };
    if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
        return None;
    }
    list.args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect()
}

/// `pg_catalog.x`, `information_schema.x` or a bare `pg_x`.
fn is_catalog_relation(name: &ObjectName) -> bool {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident().map(|i| i.value.to_lowercase()))
        .collect();
    match parts.as_slice() {
        [schema, _] => schema == "pg_catalog" || schema == "information_schema",
        [table] => table.starts_with("pg_"),
        _ => false,
    }
}

/// `(SELECT e FROM pg_catalog.… WHERE …)` → `(SELECT first_value(e) …)`.
fn aggregate_catalog_lookup(query: &mut Query) {
    let SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    let only_catalog = !select.from.is_empty()
        && select.from.iter().all(|t| {
            std::iter::once(&t.relation)
                .chain(t.joins.iter().map(|j| &j.relation))
                .all(|r| matches!(r, TableFactor::Table { name, args: None, .. } if is_catalog_relation(name)))
        });
    if grouped || !only_catalog || select.having.is_some() || select.projection.len() != 1 {
        return;
    }
    let expr = match &mut select.projection[0] {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
        _ => return,
    };
    let aggregated = visit_expressions(&*expr, |e| match e {
        Expr::Function(f)
            if function_name(&f.name).is_some_and(|n| AGGREGATES.contains(&n.as_str())) =>
        {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    });
    if aggregated.is_break() {
        return;
    }
    if let Some(wrapped) = parse_expr(&format!("first_value({expr})")) {
        *expr = wrapped;
    }
}

/// PostgreSQL's fixed OIDs of the system catalogs whose OID clients compare
/// with `pg_description.classoid` (`d.classoid = 'pg_class'::regclass`).
const SYSTEM_CATALOGS: &[(&str, i64)] = &[
    ("pg_class", 1259),
    ("pg_namespace", 2615),
    ("pg_constraint", 2606),
    ("pg_proc", 1255),
    ("pg_type", 1247),
    ("pg_attribute", 1249),
];

/// `sql` with `CAST(x AS regclass)` of the system catalogs above as
/// PostgreSQL's OIDs: datafusion-pg-catalog numbers its own `pg_class` rows
/// (`'pg_class'::regclass` is 16425 there), but `pg_description.classoid`
/// holds PostgreSQL's, so `d.classoid = 'pg_class'::regclass` (DBeaver,
/// Metabase, SQLAlchemy's `get_table_comment` with a bind parameter) must
/// be 1259. Every other name keeps its cast. Also here: `typinput =
/// 'x'::regproc` ([`regproc_of_type_column`]). Runs on the text before
/// datafusion-pg-catalog's parser, whose rules replace the casts; unchanged
/// (borrowed) without a `regclass` in it or when it does not parse here.
pub fn system_regclasses(sql: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    let lower = sql.to_ascii_lowercase();
    if !lower.contains("regclass") && !lower.contains("regproc") {
        return Cow::Borrowed(sql);
    }
    let Ok(mut statements) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else {
        return Cow::Borrowed(sql);
    };
    struct Casts(bool);
    impl VisitorMut for Casts {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Some(name) = regproc_of_type_column(expr) {
                *expr = name;
                self.0 = true;
                return ControlFlow::Continue(());
            }
            let Expr::Cast {
                expr: operand,
                data_type,
                ..
            } = expr
            else {
                return ControlFlow::Continue(());
            };
            if !data_type.to_string().eq_ignore_ascii_case("regclass") {
                return ControlFlow::Continue(());
            }
            let replacement = match operand.as_ref() {
                Expr::Value(v) => match &v.value {
                    Value::SingleQuotedString(name) => system_oid(name).map(|oid| oid.to_string()),
                    Value::Placeholder(p) => {
                        let whens: String = SYSTEM_CATALOGS
                            .iter()
                            .map(|(n, oid)| {
                                format!(" WHEN '{n}' THEN {oid} WHEN 'pg_catalog.{n}' THEN {oid}")
                            })
                            .collect();
                        Some(format!(
                            "CASE lower(CAST({p} AS TEXT)){whens} ELSE CAST({p} AS REGCLASS) END"
                        ))
                    }
                    _ => None,
                },
                _ => None,
            };
            if let Some(r) = replacement.as_deref().and_then(parse_expr) {
                *expr = r;
                self.0 = true;
            }
            ControlFlow::Continue(())
        }
    }
    let mut casts = Casts(false);
    let _ = statements.visit(&mut casts);
    if !casts.0 {
        return Cow::Borrowed(sql);
    }
    let text: Vec<String> = statements.iter().map(|s| s.to_string()).collect();
    Cow::Owned(text.join(";\n"))
}

/// `typinput = 'pg_catalog.array_in'::regproc` (DBeaver's array test) as
/// `typinput = 'array_in'`: datafusion-pg-catalog's `pg_type` holds the
/// I/O functions by name (text), where PostgreSQL holds their `regproc`.
fn regproc_of_type_column(expr: &Expr) -> Option<Expr> {
    let Expr::BinaryOp { left, op, right } = expr else {
        return None;
    };
    let is_io_column = |e: &Expr| {
        let name = match e {
            Expr::Identifier(i) => &i.value,
            Expr::CompoundIdentifier(ids) => &ids.last()?.value,
            _ => return None,
        };
        let name = name.to_lowercase();
        ["typinput", "typoutput", "typreceive", "typsend"]
            .contains(&name.as_str())
            .then_some(())
    };
    let name_of = |e: &Expr| match e {
        Expr::Cast {
            expr: operand,
            data_type,
            ..
        } if data_type.to_string().eq_ignore_ascii_case("regproc") => match operand.as_ref() {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(n) => {
                    Some(n.strip_prefix("pg_catalog.").unwrap_or(n).to_string())
                }
                _ => None,
            },
            _ => None,
        },
        _ => None,
    };
    let (column, name) = match (
        is_io_column(left),
        name_of(right),
        is_io_column(right),
        name_of(left),
    ) {
        (Some(()), Some(n), _, _) => (left, n),
        (_, _, Some(()), Some(n)) => (right, n),
        _ => return None,
    };
    parse_expr(&format!("{column} {op} '{}'", name.replace('\'', "''")))
}

/// PostgreSQL's OID of system catalog `name` (`pg_class`, `pg_catalog.pg_class`).
fn system_oid(name: &str) -> Option<i64> {
    let name = name.to_lowercase();
    let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
    SYSTEM_CATALOGS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, oid)| *oid)
}

/// `pg_get_viewdef(oid)` as a lookup of the view's query by OID. The
/// `pretty` argument changes only layout in PostgreSQL; it stays in the
/// query (always true) so that a bind parameter keeps its place.
fn viewdef_lookup(oid: &Expr, pretty: Option<&Expr>) -> Option<Expr> {
    let pretty = pretty
        .map(|p| format!(" AND (CAST({p} AS BOOLEAN) IS NULL OR true)"))
        .unwrap_or_default();
    parse_expr(&format!(
        "(SELECT first_value(voidx_view_query(voidx_vd_v.definition)) \
         FROM pg_catalog.pg_views voidx_vd_v \
         JOIN pg_catalog.pg_namespace voidx_vd_n ON voidx_vd_n.nspname = voidx_vd_v.schemaname \
         JOIN pg_catalog.pg_class voidx_vd_c ON voidx_vd_c.relnamespace = voidx_vd_n.oid \
         AND voidx_vd_c.relname = voidx_vd_v.viewname \
         WHERE voidx_vd_c.oid = CAST({oid} AS BIGINT){pretty})"
    ))
}

/// A LIKE pattern with escape character `escape` as a backslash-escaped one:
/// `pg/_%` with `/` → `pg\_%`. A trailing escape character (an error in
/// PostgreSQL) matches itself.
fn backslash_escaped(pattern: &str, escape: char) -> String {
    let mut out = String::with_capacity(pattern.len() + 2);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == escape {
            out.push('\\');
            out.push(chars.next().unwrap_or(escape));
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    out
}

/// Registers `voidx_like_escape(pattern, escape)`, which the LIKE rule calls.
pub fn register_functions(ctx: &SessionContext) {
    ctx.register_udf(create_udf(
        "voidx_like_escape",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let patterns = arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
            let escapes = arrow::compute::cast(&arrays[1], &DataType::Utf8)?;
            let (patterns, escapes) = (patterns.as_string::<i32>(), escapes.as_string::<i32>());
            let out: StringArray = (0..patterns.len())
                .map(|i| {
                    if patterns.is_null(i) {
                        return None;
                    }
                    let p = patterns.value(i);
                    match (!escapes.is_null(i)).then(|| escapes.value(i).chars().next()) {
                        Some(Some(e)) => Some(backslash_escaped(p, e)),
                        _ => Some(p.to_string()),
                    }
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
        rewrite(&mut statements[0]);
        statements[0].to_string()
    }

    #[test]
    fn like_escapes_become_backslashes() {
        assert_eq!(backslash_escaped("pg/_%", '/'), "pg\\_%");
        assert_eq!(backslash_escaped("a\\b//", '/'), "a\\\\b\\/");
        assert_eq!(
            rewritten("SELECT 1 FROM n WHERE a NOT LIKE $1 || '%' ESCAPE '/'"),
            "SELECT 1 FROM n WHERE a NOT LIKE voidx_like_escape($1 || '%', '/')"
        );
        let plain = "SELECT 1 FROM n WHERE a LIKE 'x\\_' ESCAPE '\\'";
        assert_eq!(
            rewritten(plain),
            Parser::parse_sql(&PostgreSqlDialect {}, plain).unwrap()[0].to_string()
        );
    }

    #[test]
    fn only_catalog_lookups_are_aggregated() {
        assert_eq!(
            rewritten(
                "SELECT (SELECT t.typname FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid) FROM pg_catalog.pg_attribute a"
            ),
            "SELECT (SELECT first_value(t.typname) FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid) FROM pg_catalog.pg_attribute a"
        );
        for kept in [
            "SELECT (SELECT x FROM public.t WHERE t.k = o.k) FROM o",
            "SELECT (SELECT count(*) FROM pg_catalog.pg_type) FROM o",
            "SELECT (SELECT x FROM pg_type JOIN t ON true) FROM o",
        ] {
            assert!(!rewritten(kept).contains("first_value"), "{kept}");
        }
    }

    #[test]
    fn subscripts_and_viewdefs() {
        assert_eq!(
            rewritten(
                "SELECT unnest(i.indkey), generate_subscripts(i.indkey, $1::INTEGER) FROM pg_index i"
            ),
            "SELECT unnest(i.indkey), unnest(generate_series(1, array_length(i.indkey, $1::INTEGER))) FROM pg_index i"
        );
        let r = system_regclasses(
            "SELECT 1 FROM d WHERE d.classoid = CAST($1 AS REGCLASS) AND d.x = 'pg_class'::regclass AND d.y = 'shop.t'::regclass",
        );
        assert!(
            r.contains("CASE lower(CAST($1 AS TEXT)) WHEN 'pg_class' THEN 1259"),
            "{r}"
        );
        assert!(r.contains("d.x = 1259 AND d.y = 'shop.t'::REGCLASS"), "{r}");
        assert!(matches!(
            system_regclasses("SELECT 1"),
            std::borrow::Cow::Borrowed(_)
        ));
        let p = system_regclasses(
            "SELECT typinput='pg_catalog.array_in'::regproc AS a FROM pg_type, regclass",
        );
        assert!(p.starts_with("SELECT typinput = 'array_in' AS a"), "{p}");
        let v = rewritten("SELECT pg_catalog.pg_get_viewdef(c.oid) FROM pg_catalog.pg_class c");
        assert!(
            v.contains("voidx_view_query") && v.contains("CAST(c.oid AS BIGINT)"),
            "{v}"
        );
    }
}
