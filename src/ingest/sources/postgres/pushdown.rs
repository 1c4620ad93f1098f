//! DataFusion filters → PostgreSQL `WHERE` text, only where PostgreSQL
//! answers exactly as DataFusion would (so the table reports `Exact`).
//!
//! Translated: `col op literal` (=, <>, <, <=, >, >=), AND / OR / NOT,
//! IS [NOT] NULL, IN (list), BETWEEN, LIKE (case-sensitive), and widening
//! casts of a column (int → bigger int or float8, float4 → float8).
//! String literals carry `COLLATE "C"`, so PostgreSQL orders them by bytes
//! like Arrow does, whatever the database's collation. Everything else
//! (functions, ILIKE, char(n) columns, columns retyped by the DDL) stays
//! in DataFusion.

use std::collections::HashMap;

use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Like, Operator, expr::InList};

use super::columns::SourceColumn;

/// The WHERE text of `expr`, or `None` when it cannot be sent exactly.
pub fn to_sql(expr: &Expr, columns: &HashMap<&str, &SourceColumn>) -> Option<String> {
    match expr {
        Expr::Column(c) => columns.get(c.name.as_str())?.filter_expr(),
        Expr::Literal(value, _) => literal(value),
        Expr::Cast(cast) => {
            let inner_type = type_of(&cast.expr, columns)?;
            let target = widening_cast(&inner_type, cast.field.data_type())?;
            Some(format!(
                "CAST({} AS {target})",
                to_sql(&cast.expr, columns)?
            ))
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let op = match op {
                Operator::Eq => "=",
                Operator::NotEq => "<>",
                Operator::Lt => "<",
                Operator::LtEq => "<=",
                Operator::Gt => ">",
                Operator::GtEq => ">=",
                Operator::And => "AND",
                Operator::Or => "OR",
                _ => return None,
            };
            if !matches!(op, "AND" | "OR") && !comparable(left, right, columns) {
                return None;
            }
            Some(format!(
                "({} {op} {})",
                to_sql(left, columns)?,
                to_sql(right, columns)?
            ))
        }
        Expr::Not(inner) => Some(format!("(NOT {})", to_sql(inner, columns)?)),
        Expr::IsNull(inner) => Some(format!("({} IS NULL)", to_sql(inner, columns)?)),
        Expr::IsNotNull(inner) => Some(format!("({} IS NOT NULL)", to_sql(inner, columns)?)),
        Expr::InList(InList {
            expr,
            list,
            negated,
        }) => {
            if list.is_empty() || !list.iter().all(|v| comparable(expr, v, columns)) {
                return None;
            }
            let items = list
                .iter()
                .map(|v| to_sql(v, columns))
                .collect::<Option<Vec<_>>>()?;
            let not = if *negated { "NOT " } else { "" };
            Some(format!(
                "({} {not}IN ({}))",
                to_sql(expr, columns)?,
                items.join(", ")
            ))
        }
        Expr::Between(Between {
            expr,
            negated,
            low,
            high,
        }) => {
            if !comparable(expr, low, columns) || !comparable(expr, high, columns) {
                return None;
            }
            let not = if *negated { "NOT " } else { "" };
            Some(format!(
                "({} {not}BETWEEN {} AND {})",
                to_sql(expr, columns)?,
                to_sql(low, columns)?,
                to_sql(high, columns)?
            ))
        }
        Expr::Like(Like {
            negated,
            expr,
            pattern,
            escape_char,
            case_insensitive,
        }) => {
            // Both default to backslash as the escape; ILIKE folds case
            // differently in PostgreSQL and Arrow.
            if *case_insensitive || !matches!(escape_char, None | Some('\\')) {
                return None;
            }
            if type_of(expr, columns)? != DataType::Utf8 {
                return None;
            }
            if !matches!(
                pattern.as_ref(),
                Expr::Literal(ScalarValue::Utf8(Some(_)), _)
            ) {
                return None;
            }
            let not = if *negated { "NOT " } else { "" };
            Some(format!(
                "({} {not}LIKE {})",
                to_sql(expr, columns)?,
                to_sql(pattern, columns)?
            ))
        }
        _ => None,
    }
}

/// The Arrow type an operand has in VOIDX.
fn type_of(expr: &Expr, columns: &HashMap<&str, &SourceColumn>) -> Option<DataType> {
    match expr {
        Expr::Column(c) => Some(columns.get(c.name.as_str())?.field.data_type().clone()),
        Expr::Literal(v, _) => Some(v.data_type()),
        Expr::Cast(cast) => Some(cast.field.data_type().clone()),
        _ => None,
    }
}

/// Comparisons go out only between operands of the same type (DataFusion's
/// coercion has already made them so), never with a NULL literal.
fn comparable(a: &Expr, b: &Expr, columns: &HashMap<&str, &SourceColumn>) -> bool {
    let null = |e: &Expr| matches!(e, Expr::Literal(v, _) if v.is_null());
    if null(a) || null(b) {
        return false;
    }
    match (type_of(a, columns), type_of(b, columns)) {
        (Some(x), Some(y)) => same_family(&x, &y),
        _ => false,
    }
}

fn same_family(a: &DataType, b: &DataType) -> bool {
    use DataType::*;
    match (a, b) {
        (Utf8 | LargeUtf8 | Utf8View, Utf8 | LargeUtf8 | Utf8View) => true,
        (Timestamp(u1, z1), Timestamp(u2, z2)) => u1 == u2 && z1.is_some() == z2.is_some(),
        (Decimal128(_, s1), Decimal128(_, s2)) => s1 == s2,
        _ => a == b,
    }
}

/// The PostgreSQL type of a cast that neither rounds nor truncates.
fn widening_cast(from: &DataType, to: &DataType) -> Option<&'static str> {
    use DataType::*;
    match (from, to) {
        (Int16, Int32) => Some("int4"),
        (Int16 | Int32, Int64) => Some("int8"),
        (Int16 | Int32 | Float32, Float64) => Some("float8"),
        _ => None,
    }
}

fn quote_literal(s: &str) -> Option<String> {
    // PostgreSQL text cannot hold NUL; such a value never matches there.
    if s.contains('\0') {
        return None;
    }
    Some(format!("'{}' COLLATE \"C\"", s.replace('\'', "''")))
}

fn literal(value: &ScalarValue) -> Option<String> {
    use ScalarValue::*;
    let text = match value {
        Boolean(Some(b)) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Int8(Some(v)) => format!("({v})"),
        Int16(Some(v)) => format!("({v})::int2"),
        Int32(Some(v)) => format!("({v})::int4"),
        Int64(Some(v)) => format!("({v})::int8"),
        UInt8(Some(v)) => v.to_string(),
        UInt16(Some(v)) => v.to_string(),
        UInt32(Some(v)) => v.to_string(),
        UInt64(Some(v)) => v.to_string(),
        Float32(Some(v)) => format!("'{v:?}'::float4"),
        Float64(Some(v)) => format!("'{v:?}'::float8"),
        Utf8(Some(s)) | LargeUtf8(Some(s)) | Utf8View(Some(s)) => quote_literal(s)?,
        Date32(Some(days)) => {
            let date = chrono::DateTime::from_timestamp(i64::from(*days) * 86_400, 0)?;
            format!("'{}'::date", date.format("%Y-%m-%d"))
        }
        TimestampMicrosecond(Some(us), tz) => {
            let ts = chrono::DateTime::from_timestamp_micros(*us)?;
            let text = ts.format("%Y-%m-%d %H:%M:%S%.6f");
            match tz.as_deref() {
                None => format!("'{text}'::timestamp"),
                Some("UTC" | "+00:00" | "Z") => format!("'{text}+00'::timestamptz"),
                Some(_) => return None,
            }
        }
        Decimal128(Some(v), _, scale) => {
            let digits = v.unsigned_abs().to_string();
            let scale = usize::try_from(*scale).ok()?;
            let padded = format!("{digits:0>width$}", width = scale + 1);
            let (int, frac) = padded.split_at(padded.len() - scale);
            let sign = if *v < 0 { "-" } else { "" };
            if scale == 0 {
                format!("'{sign}{int}'::numeric")
            } else {
                format!("'{sign}{int}.{frac}'::numeric")
            }
        }
        _ => return None,
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::sources::postgres::columns::Kind;
    use arrow::datatypes::Field;
    use datafusion::prelude::{col, lit};

    fn columns() -> Vec<SourceColumn> {
        [
            ("id", Kind::Int4),
            ("name", Kind::Text),
            ("code", Kind::PaddedText),
            ("amount", Kind::Decimal(10, 2)),
            ("at", Kind::TimestampTz),
        ]
        .into_iter()
        .map(|(n, k)| SourceColumn {
            field: Field::new(n, k.data_type(), true),
            remote: n.into(),
            kind: k,
        })
        .collect()
    }

    fn sql(e: Expr) -> Option<String> {
        let cols = columns();
        let map = cols.iter().map(|c| (c.field.name().as_str(), c)).collect();
        to_sql(&e, &map)
    }

    #[test]
    fn comparisons_and_logic() {
        assert_eq!(
            sql(col("id").gt(lit(5i32)).and(col("name").is_not_null())).as_deref(),
            Some("((\"id\" > (5)::int4) AND (\"name\" IS NOT NULL))")
        );
        assert_eq!(
            sql(col("name").eq(lit("O'Brien"))).as_deref(),
            Some("(\"name\" = 'O''Brien' COLLATE \"C\")")
        );
        assert_eq!(
            sql(col("id").in_list(vec![lit(1i32), lit(2i32)], true)).as_deref(),
            Some("(\"id\" NOT IN ((1)::int4, (2)::int4))")
        );
        assert_eq!(
            sql(col("amount").between(
                lit(ScalarValue::Decimal128(Some(-5), 10, 2)),
                lit(ScalarValue::Decimal128(Some(12345), 10, 2))
            ))
            .as_deref(),
            Some("(\"amount\" BETWEEN '-0.05'::numeric AND '123.45'::numeric)")
        );
        assert_eq!(
            sql(col("name").like(lit("a%"))).as_deref(),
            Some("(\"name\" LIKE 'a%' COLLATE \"C\")")
        );
    }

    #[test]
    fn what_is_not_exact_stays_home() {
        assert_eq!(sql(col("code").eq(lit("x"))), None);
        assert_eq!(sql(col("name").ilike(lit("a%"))), None);
        assert_eq!(sql(col("id").eq(lit(ScalarValue::Int32(None)))), None);
        assert_eq!(sql(col("name").eq(lit("nul\0"))), None);
        assert_eq!(
            sql(datafusion::functions::math::expr_fn::abs(col("id")).gt(lit(1i32))),
            None
        );
        // OR with one untranslatable side cannot be half-sent.
        assert_eq!(
            sql(col("id").eq(lit(1i32)).or(col("code").eq(lit("x")))),
            None
        );
    }

    #[test]
    fn timestamps_and_casts() {
        let ts = ScalarValue::TimestampMicrosecond(Some(1_700_000_000_000_000), Some("UTC".into()));
        assert_eq!(
            sql(col("at").gt_eq(lit(ts))).as_deref(),
            Some("(\"at\" >= '2023-11-14 22:13:20.000000+00'::timestamptz)")
        );
        assert_eq!(
            sql(datafusion::logical_expr::cast(col("id"), DataType::Int64).eq(lit(7i64)))
                .as_deref(),
            Some("(CAST(\"id\" AS int8) = (7)::int8)")
        );
        assert_eq!(
            sql(datafusion::logical_expr::cast(col("at"), DataType::Utf8).eq(lit("x"))),
            None
        );
    }
}
