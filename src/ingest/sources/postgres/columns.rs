//! PostgreSQL column types → Arrow, and the SQL that reads each column.
//!
//! | PostgreSQL | Arrow | sent as |
//! |---|---|---|
//! | int2 / int4 / int8 | Int16 / Int32 / Int64 | binary |
//! | float4 / float8 | Float32 / Float64 | binary |
//! | numeric(p,s), p ≤ 38 | Decimal128(p, s) | text, parsed exactly |
//! | numeric (no typmod, or p > 38) | Float64 | `::float8` |
//! | bool | Boolean | binary |
//! | text / varchar / char(n) / name | Utf8 | binary |
//! | date | Date32 | binary |
//! | timestamp | Timestamp(µs) | binary |
//! | timestamptz | Timestamp(µs, "UTC") | binary |
//! | anything else (json, jsonb, uuid, arrays, …) | Utf8 | `::text` |

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use tokio_postgres::types::Type;

use super::{Source, quote_ident};
use crate::error::{Result, VoidxError};

/// How a column travels and which Arrow type it decodes to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Bool,
    /// text, varchar, name: compared like Arrow strings (byte order with `COLLATE "C"`).
    Text,
    /// char(n): blank-padded; PostgreSQL compares it ignoring trailing blanks, so no pushdown.
    PaddedText,
    Date,
    Timestamp,
    TimestampTz,
    /// numeric with a precision that fits Decimal128: read as text, parsed exactly.
    Decimal(u8, i8),
    /// unconstrained numeric: `::float8`.
    NumericAsFloat,
    /// any other type: `::text`.
    AsText,
}

impl Kind {
    fn of(ty: &Type, typmod: i32) -> Kind {
        match *ty {
            Type::INT2 => Kind::Int2,
            Type::INT4 => Kind::Int4,
            Type::INT8 => Kind::Int8,
            Type::FLOAT4 => Kind::Float4,
            Type::FLOAT8 => Kind::Float8,
            Type::BOOL => Kind::Bool,
            Type::TEXT | Type::VARCHAR | Type::NAME => Kind::Text,
            Type::BPCHAR => Kind::PaddedText,
            Type::DATE => Kind::Date,
            Type::TIMESTAMP => Kind::Timestamp,
            Type::TIMESTAMPTZ => Kind::TimestampTz,
            Type::NUMERIC => numeric_kind(typmod),
            _ => Kind::AsText,
        }
    }

    pub fn data_type(self) -> DataType {
        match self {
            Kind::Int2 => DataType::Int16,
            Kind::Int4 => DataType::Int32,
            Kind::Int8 => DataType::Int64,
            Kind::Float4 => DataType::Float32,
            Kind::Float8 | Kind::NumericAsFloat => DataType::Float64,
            Kind::Bool => DataType::Boolean,
            Kind::Text | Kind::PaddedText | Kind::AsText => DataType::Utf8,
            Kind::Date => DataType::Date32,
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            Kind::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Kind::Decimal(p, s) => DataType::Decimal128(p, s),
        }
    }
}

/// numeric's typmod is `((precision << 16) | scale) + 4`, or -1 when unconstrained.
fn numeric_kind(typmod: i32) -> Kind {
    if typmod < 4 {
        return Kind::NumericAsFloat;
    }
    let packed = typmod - 4;
    let precision = (packed >> 16) & 0xffff;
    let scale = packed & 0x7ff;
    if (1..=38).contains(&precision) && scale <= precision {
        Kind::Decimal(precision as u8, scale as i8)
    } else {
        Kind::NumericAsFloat
    }
}

/// A column of the external table and where it comes from.
#[derive(Debug, Clone)]
pub struct SourceColumn {
    /// The column as VOIDX shows it (declared type when the DDL gives one).
    pub field: Field,
    /// The column's name in PostgreSQL.
    pub remote: String,
    pub kind: Kind,
}

impl SourceColumn {
    /// The type rows decode to before any cast to the declared type.
    pub fn wire_type(&self) -> DataType {
        self.kind.data_type()
    }

    /// Does VOIDX see exactly PostgreSQL's values (no cast to a declared type)?
    pub fn is_native(&self) -> bool {
        self.field.data_type() == &self.wire_type()
    }

    /// The expression in the SELECT list sent to PostgreSQL.
    pub fn select_expr(&self) -> String {
        let col = quote_ident(&self.remote);
        match self.kind {
            Kind::Decimal(..) | Kind::AsText => format!("{col}::text"),
            Kind::NumericAsFloat => format!("{col}::float8"),
            _ => col,
        }
    }

    /// The expression filters compare, with the values VOIDX sees; `None`
    /// when PostgreSQL would compare differently.
    pub fn filter_expr(&self) -> Option<String> {
        if !self.is_native() {
            return None;
        }
        let col = quote_ident(&self.remote);
        match self.kind {
            Kind::PaddedText => None,
            Kind::AsText => Some(format!("{col}::text")),
            Kind::NumericAsFloat => Some(format!("{col}::float8")),
            _ => Some(col),
        }
    }
}

/// The columns of the source, as PostgreSQL describes `SELECT * … LIMIT 0`.
pub async fn describe(
    client: &tokio_postgres::Client,
    source: &Source,
) -> Result<Vec<SourceColumn>> {
    let sql = format!("SELECT * FROM {} LIMIT 0", source.relation_sql());
    let statement = client
        .prepare(&sql)
        .await
        .map_err(|e| super::pg_error(source, "cannot read the columns", e))?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for column in statement.columns() {
        if !seen.insert(column.name().to_string()) {
            return Err(VoidxError::InvalidArgument(format!(
                "PostgreSQL source {}: the column name '{}' appears twice. Help: give the columns distinct names (AS …) in the 'query' option",
                source.shown,
                column.name()
            )));
        }
        let kind = Kind::of(column.type_(), column.type_modifier());
        out.push(SourceColumn {
            field: Field::new(column.name(), kind.data_type(), true),
            remote: column.name().to_string(),
            kind,
        });
    }
    Ok(out)
}

/// Keep the declared columns (in their order, with their types) when the
/// DDL lists any; otherwise every remote column with its mapped type.
pub fn select_declared(
    remote: Vec<SourceColumn>,
    declared: &Schema,
    source: &Source,
) -> Result<Vec<SourceColumn>> {
    if declared.fields().is_empty() {
        return Ok(remote);
    }
    declared
        .fields()
        .iter()
        .map(|field| {
            let found = remote
                .iter()
                .find(|c| c.remote == *field.name())
                .or_else(|| {
                    remote
                        .iter()
                        .find(|c| c.remote.eq_ignore_ascii_case(field.name()))
                })
                .ok_or_else(|| {
                    VoidxError::InvalidArgument(format!(
                        "column '{}' is not in PostgreSQL source {} (it has: {}). Help: declare only columns the table or query returns",
                        field.name(),
                        source.shown,
                        remote
                            .iter()
                            .map(|c| c.remote.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            if !arrow::compute::can_cast_types(&found.wire_type(), field.data_type()) {
                return Err(VoidxError::InvalidArgument(format!(
                    "column '{}' of PostgreSQL source {} is {} and cannot be read as {}. Help: declare a type it converts to, or leave the type out",
                    field.name(),
                    source.shown,
                    found.wire_type(),
                    field.data_type()
                )));
            }
            Ok(SourceColumn {
                field: Field::new(field.name(), field.data_type().clone(), true),
                remote: found.remote.clone(),
                kind: found.kind,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_typmods() {
        // numeric(10,2): ((10 << 16) | 2) + 4
        assert_eq!(numeric_kind((10 << 16 | 2) + 4), Kind::Decimal(10, 2));
        assert_eq!(numeric_kind(-1), Kind::NumericAsFloat);
        assert_eq!(numeric_kind((60 << 16 | 2) + 4), Kind::NumericAsFloat);
    }

    #[test]
    fn types_map() {
        assert_eq!(Kind::of(&Type::JSONB, -1), Kind::AsText);
        assert_eq!(Kind::of(&Type::UUID, -1), Kind::AsText);
        assert_eq!(
            Kind::of(&Type::TIMESTAMPTZ, -1).data_type(),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
    }
}
