//! PostgreSQL built-in functions that catalog queries of clients call and
//! DataFusion lacks: `json_build_object(k1, v1, …)` (SQLAlchemy's
//! `get_columns` builds a column's identity options with it) and
//! `pg_get_serial_sequence(table, column)` (NULL: VOIDX has no sequences, so
//! no column owns one — PostgreSQL's answer for such a column),
//! `pg_get_indexdef(…)` (NULL: no relation has an index) and
//! `pg_type_is_visible(oid)` (true: every type is on the search path).
//!
//! ```sql
//! SELECT json_build_object('a', 1, 'b', 'x');   -- {"a":1,"b":"x"}
//! ```

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

/// `json_build_object(variadic "any")`: a JSON object of key/value pairs,
/// as text.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonBuildObject {
    signature: Signature,
}

impl ScalarUDFImpl for JsonBuildObject {
    fn name(&self) -> &str {
        "json_build_object"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        if !args.args.len().is_multiple_of(2) {
            return Err(DataFusionError::Plan(
                "json_build_object: argument list must have even number of elements. \
                 Help: pass key, value, key, value, …"
                    .into(),
            ));
        }
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(args.number_rows))
            .collect::<DfResult<_>>()?;
        let mut out = Vec::with_capacity(args.number_rows);
        for row in 0..args.number_rows {
            let mut object = serde_json::Map::new();
            for pair in arrays.chunks(2) {
                let key = ScalarValue::try_from_array(&pair[0], row)?;
                if key.is_null() {
                    return Err(DataFusionError::Plan(
                        "json_build_object: argument 1 cannot be null. Help: every key must be a non-null text"
                            .into(),
                    ));
                }
                let key = match key {
                    ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) => s,
                    other => other.to_string(),
                };
                object.insert(key, json_value(ScalarValue::try_from_array(&pair[1], row)?));
            }
            out.push(Some(serde_json::Value::Object(object).to_string()));
        }
        Ok(ColumnarValue::Array(Arc::new(StringArray::from(out))))
    }
}

/// A function that answers NULL text for any arguments.
#[derive(Debug, PartialEq, Eq, Hash)]
struct NullText {
    name: &'static str,
    signature: Signature,
}

impl ScalarUDFImpl for NullText {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))
    }
}

/// One SQL value as JSON: numbers and booleans as themselves, NULL as
/// `null`, anything else as its text.
fn json_value(v: ScalarValue) -> serde_json::Value {
    use serde_json::Value as J;
    if v.is_null() {
        return J::Null;
    }
    match v {
        ScalarValue::Boolean(Some(b)) => J::Bool(b),
        ScalarValue::Int8(Some(i)) => J::from(i),
        ScalarValue::Int16(Some(i)) => J::from(i),
        ScalarValue::Int32(Some(i)) => J::from(i),
        ScalarValue::Int64(Some(i)) => J::from(i),
        ScalarValue::UInt8(Some(i)) => J::from(i),
        ScalarValue::UInt16(Some(i)) => J::from(i),
        ScalarValue::UInt32(Some(i)) => J::from(i),
        ScalarValue::UInt64(Some(i)) => J::from(i),
        ScalarValue::Float32(Some(f)) => serde_json::Number::from_f64(f64::from(f))
            .map(J::Number)
            .unwrap_or_else(|| J::String(f.to_string())),
        ScalarValue::Float64(Some(f)) => serde_json::Number::from_f64(f)
            .map(J::Number)
            .unwrap_or_else(|| J::String(f.to_string())),
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => J::String(s),
        other => J::String(other.to_string()),
    }
}

/// Registers the functions of this module.
pub fn register_functions(ctx: &SessionContext) {
    // Every type is in pg_catalog or public, both on the search path.
    ctx.register_udf(datafusion::logical_expr::create_udf(
        "pg_type_is_visible",
        vec![DataType::Int64],
        DataType::Boolean,
        Volatility::Stable,
        Arc::new(|_args: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
        }),
    ));
    // VOIDX relations have no indexes, so there is no definition to show.
    ctx.register_udf(ScalarUDF::new_from_impl(NullText {
        name: "pg_get_indexdef",
        signature: Signature::variadic_any(Volatility::Stable),
    }));
    ctx.register_udf(ScalarUDF::new_from_impl(JsonBuildObject {
        signature: Signature::variadic_any(Volatility::Immutable),
    }));
    ctx.register_udf(datafusion::logical_expr::create_udf(
        "pg_get_serial_sequence",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|_args: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn json_objects_and_serial_sequences() {
        let ctx = SessionContext::new();
        register_functions(&ctx);
        let batches = ctx
            .sql("SELECT json_build_object('a', 1, 'b', 'x', 'c', CAST(NULL AS INT), 'd', true), pg_get_serial_sequence('t', 'c')")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        assert!(
            text.contains(r#"{"a":1,"b":"x","c":null,"d":true}"#),
            "{text}"
        );
        assert!(
            ctx.sql("SELECT json_build_object('a')")
                .await
                .unwrap()
                .collect()
                .await
                .is_err()
        );
    }
}
