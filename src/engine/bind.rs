//! Parameters that must be known before a statement can be planned.
//!
//! A table function (`train`, `ingest`, `generate_series` …) is called while
//! the statement is *planned*, with its arguments as expressions: a `$1` there
//! is a placeholder, not a value, and the function cannot tell which model or
//! how many rows it was asked for. PostgreSQL clients send such statements all
//! the time (psycopg's `cur.execute("SELECT * FROM train(%s, …)", (name, …))`
//! uses the extended protocol), so the server plans them at Bind instead: the
//! portal's values are written into the statement as literals — into the
//! syntax tree, never into the text, so a value cannot become SQL — and the
//! statement is planned and run as if the client had typed them.

use std::ops::ControlFlow;

use datafusion::common::ScalarValue;
use datafusion::sql::sqlparser::ast::{
    Expr, Statement as PgStatement, TableFactor, Value, ValueWithSpan, Visit, VisitMut, Visitor,
    VisitorMut, visit_expressions,
};

use crate::error::{Result, VoidxError};

/// The number `n` of a `$n` placeholder.
fn placeholder_index(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Value(ValueWithSpan {
            value: Value::Placeholder(p),
            ..
        }) => Some(p),
        _ => None,
    }
}

/// Whether a table function's arguments hold a parameter: then the statement
/// is planned when its values are bound.
pub fn needs_values_to_plan(stmt: &PgStatement) -> bool {
    struct Finder;
    impl Visitor for Finder {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            let has_placeholder = |f: &TableFactor| {
                visit_expressions(f, |e| match placeholder_index(e) {
                    Some(_) => ControlFlow::Break(()),
                    None => ControlFlow::Continue(()),
                })
                .is_break()
            };
            match factor {
                TableFactor::Table { args: Some(_), .. } | TableFactor::Function { .. }
                    if has_placeholder(factor) =>
                {
                    ControlFlow::Break(())
                }
                _ => ControlFlow::Continue(()),
            }
        }
    }
    stmt.visit(&mut Finder).is_break()
}

/// How many parameters the statement takes: the highest `$n` in it.
pub fn parameter_count(stmt: &PgStatement) -> usize {
    let mut count = 0;
    let _ = visit_expressions(stmt, |e| {
        // Bind carries at most u16::MAX values; a larger number is never
        // bound (and must not size an allocation), so it is left to fail as
        // a missing value.
        if let Some(n) = placeholder_index(e)
            .and_then(|p| p.strip_prefix('$')?.parse::<usize>().ok())
            .filter(|n| *n <= usize::from(u16::MAX))
        {
            count = count.max(n);
        }
        ControlFlow::<()>::Continue(())
    });
    count
}

/// Writes `values` into `stmt` in place of `$1, $2, …`.
pub fn inline_parameters(stmt: &mut PgStatement, values: &[ScalarValue]) -> Result<()> {
    struct Inline<'a> {
        values: &'a [ScalarValue],
        error: Option<VoidxError>,
    }
    impl VisitorMut for Inline<'_> {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            let Some(name) = placeholder_index(expr) else {
                return ControlFlow::Continue(());
            };
            let value = name
                .strip_prefix('$')
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| self.values.get(i));
            match value {
                Some(value) => {
                    *expr = literal(value);
                    ControlFlow::Continue(())
                }
                None => {
                    self.error = Some(VoidxError::InvalidArgument(format!(
                        "there is no parameter {name}: the statement was bound with {} value(s). \
                         Help: pass one value per placeholder $1, $2, …",
                        self.values.len()
                    )));
                    ControlFlow::Break(())
                }
            }
        }
    }
    let mut inline = Inline {
        values,
        error: None,
    };
    let _ = stmt.visit(&mut inline);
    match inline.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A bound value as the literal a user would have typed. Numbers and
/// booleans keep their type; everything else is a quoted string, which the
/// planner coerces to the type the expression needs, as PostgreSQL does
/// with an untyped literal.
fn literal(value: &ScalarValue) -> Expr {
    if value.is_null() {
        return Expr::value(Value::Null);
    }
    let number = |s: String| Expr::value(Value::Number(s, false));
    match value {
        ScalarValue::Boolean(Some(b)) => Expr::value(Value::Boolean(*b)),
        ScalarValue::Int8(_)
        | ScalarValue::Int16(_)
        | ScalarValue::Int32(_)
        | ScalarValue::Int64(_)
        | ScalarValue::UInt8(_)
        | ScalarValue::UInt16(_)
        | ScalarValue::UInt32(_)
        | ScalarValue::UInt64(_)
        | ScalarValue::Decimal128(..)
        | ScalarValue::Decimal256(..) => number(value.to_string()),
        ScalarValue::Float32(Some(f)) if f.is_finite() => number(value.to_string()),
        ScalarValue::Float64(Some(f)) if f.is_finite() => number(value.to_string()),
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Expr::value(Value::SingleQuotedString(s.clone())),
        other => Expr::value(Value::SingleQuotedString(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::parse::parse;

    fn pg(sql: &str) -> PgStatement {
        match parse(sql).unwrap().pop().unwrap() {
            crate::engine::Stmt::Pg(s) => *s,
            other => panic!("not a PostgreSQL statement: {other}"),
        }
    }

    #[test]
    fn only_table_function_parameters_wait_for_bind() {
        assert!(needs_values_to_plan(&pg(
            "SELECT * FROM train($1, 'SELECT 1', 'y')"
        )));
        assert!(needs_values_to_plan(&pg(
            "SELECT g FROM t JOIN generate_series(1, $2) AS s(g) ON true WHERE a = $1"
        )));
        assert!(needs_values_to_plan(&pg(
            "SELECT * FROM (SELECT * FROM train('m', $1, 'y')) AS x"
        )));
        assert!(!needs_values_to_plan(&pg("SELECT * FROM t WHERE a = $1")));
        assert!(!needs_values_to_plan(&pg(
            "SELECT * FROM train('m', 'SELECT 1', 'y')"
        )));
        assert!(!needs_values_to_plan(&pg("SELECT predict($1, a) FROM t")));
    }

    #[test]
    fn values_become_literals_in_the_tree_not_the_text() {
        let mut stmt =
            pg("SELECT * FROM train($1, $2, 'y', $3) WHERE $4 AND $5 > 0 AND $6 IS NULL");
        assert_eq!(parameter_count(&stmt), 6);
        inline_parameters(
            &mut stmt,
            &[
                ScalarValue::from("it's'); DROP TABLE t; --"),
                ScalarValue::from("SELECT * FROM t"),
                ScalarValue::Int64(Some(-3)),
                ScalarValue::Boolean(Some(true)),
                ScalarValue::Float64(Some(f64::NAN)),
                ScalarValue::Int32(None),
            ],
        )
        .unwrap();
        assert_eq!(
            stmt.to_string(),
            "SELECT * FROM train('it''s''); DROP TABLE t; --', 'SELECT * FROM t', 'y', -3) \
             WHERE true AND 'NaN' > 0 AND NULL IS NULL"
        );
    }

    /// `$4000000000` must not size an allocation of four billion slots
    /// (which aborts the server): it is never bound, so it fails as missing.
    #[test]
    fn a_huge_parameter_number_counts_nothing_and_fails_as_missing() {
        let mut stmt = pg("SELECT * FROM generate_series(1, $4000000000)");
        assert_eq!(parameter_count(&stmt), 0);
        assert_eq!(
            parameter_count(&pg("SELECT * FROM generate_series($2, $65535)")),
            65535
        );
        let err = inline_parameters(&mut stmt, &[]).unwrap_err();
        assert!(err.to_string().contains("there is no parameter"), "{err}");
    }

    #[test]
    fn a_missing_value_is_a_clear_error() {
        let mut stmt = pg("SELECT * FROM generate_series(1, $2)");
        let err = inline_parameters(&mut stmt, &[ScalarValue::Int64(Some(1))]).unwrap_err();
        assert!(
            err.to_string().contains("there is no parameter $2"),
            "{err}"
        );
    }
}
