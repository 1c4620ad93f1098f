//! How the data dictionary writes things: PostgreSQL type names for Arrow
//! types, markdown table cells and heading anchors, numbers with thousands
//! separators, and view SQL one clause per line.
//!
//! ```
//! use arrow::datatypes::DataType;
//! assert_eq!(voidx::storage::dictionary::pg_type(&DataType::Float64), "double precision");
//! ```

use arrow::datatypes::DataType;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// The type name PostgreSQL clients are told (`\d`, `information_schema`
/// over pgwire), not Arrow's.
pub fn pg_type(t: &DataType) -> String {
    match t {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "integer".into(),
        DataType::Int64 | DataType::UInt32 => "bigint".into(),
        DataType::UInt64 => "numeric".into(),
        DataType::Float16 | DataType::Float32 => "real".into(),
        DataType::Float64 => "double precision".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text".into(),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "bytea".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Time32(_) | DataType::Time64(_) => "time without time zone".into(),
        DataType::Timestamp(_, None) => "timestamp without time zone".into(),
        DataType::Timestamp(_, Some(_)) => "timestamp with time zone".into(),
        DataType::Interval(_) | DataType::Duration(_) => "interval".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("numeric({p},{s})"),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            format!("{}[]", pg_type(f.data_type()))
        }
        DataType::Dictionary(_, v) => pg_type(v),
        DataType::Struct(_) | DataType::Map(_, _) => "record".into(),
        other => other.to_string(),
    }
}

/// A markdown table cell: one line, pipes escaped.
pub(super) fn cell(text: &str) -> String {
    text.replace('\r', "")
        .replace('\n', " ")
        .replace('|', "\\|")
}

/// The first sentence of a comment, for the summary table.
pub(super) fn first_sentence(text: &str) -> &str {
    match text.find(". ") {
        Some(i) => &text[..=i],
        None => text,
    }
}

/// GitHub's heading anchor: lower case, punctuation other than `-` and `_`
/// dropped, spaces to `-`.
pub(super) fn anchor(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// 292381 → "292,381".
pub(super) fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// The catalog stores a definition on one line; printed one clause per
/// line (sqlparser's `{:#}`), or as stored when it does not parse.
pub(super) fn pretty(sql: &str) -> String {
    match Parser::parse_sql(&PostgreSqlDialect {}, sql) {
        Ok(statements) if statements.len() == 1 => format!("{:#}", statements[0]),
        _ => sql.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_anchors_and_numbers() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
        assert_eq!(anchor("shop.order_lines"), "shoporder_lines");
        assert_eq!(anchor("Schema features"), "schema-features");
        assert_eq!(thousands(292_381), "292,381");
        assert_eq!(thousands(500), "500");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(first_sentence("One order. Amounts in USD."), "One order.");
        assert_eq!(
            pg_type(&DataType::Timestamp(
                arrow::datatypes::TimeUnit::Microsecond,
                None
            )),
            "timestamp without time zone"
        );
        assert_eq!(pg_type(&DataType::Float64), "double precision");
    }
}
