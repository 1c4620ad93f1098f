//! The RowDescription of a result as PostgreSQL would send it: fields typed
//! by datafusion-postgres' Arrow → PostgreSQL mapping, then named by
//! PostgreSQL's rule for unnamed columns
//! ([`crate::engine::column_names`]) and given the type modifier of a
//! `numeric(p,s)` column, which psycopg's `cursor.description` (precision,
//! scale) and JDBC's display scale read, and each type's `typlen`.
//!
//! The simple protocol (`encode`) and the extended protocol's Describe
//! (`get_result_schema`) both describe through [`describe`], so they agree.
//!
//! ```ignore
//! let fields = describe(batches.schema().as_ref(), &Format::UnifiedText, options, names.as_ref())?;
//! ```

use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion_postgres::arrow_pg::datatypes::arrow_schema_to_pg_fields;
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::FieldInfo;
use pgwire::error::PgWireResult;
use pgwire::types::format::FormatOptions;

use crate::engine::column_names::OutputNames;
use crate::engine::pg_attribute::type_modifier;

/// The fields of `schema` in `format`, named and modified as PostgreSQL
/// would describe them; `names` is the statement's
/// [`crate::engine::column_names::output_names`].
pub fn describe(
    schema: &Schema,
    format: &Format,
    options: Option<Arc<FormatOptions>>,
    names: Option<&OutputNames>,
) -> PgWireResult<Vec<FieldInfo>> {
    let fields = arrow_schema_to_pg_fields(schema, format, options)?;
    let n = fields.len();
    let renamed = names.and_then(|n_| n_.for_fields(n));
    let typed = names.and_then(|n_| n_.typed_fields(n));
    Ok(fields
        .into_iter()
        .enumerate()
        .map(|(i, field)| {
            let name = renamed
                .as_ref()
                .and_then(|r| r[i].clone())
                .unwrap_or_else(|| field.name().to_string());
            let modifier = match typed.as_ref().map(|t| t[i]) {
                Some(true) => type_modifier(schema.field(i).data_type()),
                _ => -1,
            };
            FieldInfo::new(
                name,
                field.table_id(),
                field.column_id(),
                field.datatype().clone(),
                field.format(),
            )
            .with_format_options(Arc::clone(field.format_options()))
            .with_type_size(type_size(field.datatype()))
            .with_type_modifier(modifier)
        })
        .collect())
}

/// `pg_type.typlen`, which RowDescription carries: the width of fixed-size
/// types, -1 for variable-length ones (psycopg's `internal_size`).
fn type_size(t: &Type) -> i16 {
    match *t {
        Type::BOOL | Type::CHAR => 1,
        Type::INT2 => 2,
        Type::INT4 | Type::FLOAT4 | Type::DATE | Type::OID => 4,
        Type::INT8 | Type::FLOAT8 | Type::TIMESTAMP | Type::TIMESTAMPTZ | Type::TIME => 8,
        Type::INTERVAL | Type::UUID => 16,
        _ => -1,
    }
}
