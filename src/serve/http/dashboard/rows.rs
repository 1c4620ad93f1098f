//! A chart's Arrow result as the JSON the page draws: column names with a
//! coarse type, and rows as arrays. Times become milliseconds since the
//! epoch (UTC), so the page plots them without parsing dates.
//!
//! ```text
//! {"columns": [{"name": "minute", "type": "time"}, {"name": "predictions", "type": "number"}],
//!  "rows": [[1796241600000, 12]]}
//! ```

use arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit};
use arrow::record_batch::RecordBatch;
use serde::Serialize;
use serde_json::Value;

use crate::error::Result;

/// How the page reads a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    /// Milliseconds since the Unix epoch, UTC.
    Time,
    Number,
    Boolean,
    Text,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ColumnType,
}

fn column_type(t: &DataType) -> ColumnType {
    match t {
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => ColumnType::Time,
        DataType::Boolean => ColumnType::Boolean,
        t if t.is_numeric() => ColumnType::Number,
        _ => ColumnType::Text,
    }
}

/// One column of a batch as JSON values (NULL → null).
fn values(array: &ArrayRef, kind: ColumnType) -> Result<Vec<Value>> {
    let nulls = |i: usize| array.is_null(i);
    Ok(match kind {
        ColumnType::Time => {
            // Time zones do not move an instant; naive times are read as UTC.
            let ms = cast(array, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
            let ms = cast(&ms, &DataType::Int64)?;
            let ms = ms.as_any().downcast_ref::<Int64Array>();
            (0..array.len())
                .map(|i| match ms {
                    Some(a) if !nulls(i) => Value::from(a.value(i)),
                    _ => Value::Null,
                })
                .collect()
        }
        ColumnType::Number => {
            let f = cast(array, &DataType::Float64)?;
            let f = f.as_any().downcast_ref::<Float64Array>();
            (0..array.len())
                .map(|i| match f {
                    // NaN and infinities are not JSON numbers.
                    Some(a) if !nulls(i) && a.value(i).is_finite() => Value::from(a.value(i)),
                    _ => Value::Null,
                })
                .collect()
        }
        ColumnType::Boolean => {
            let b = array.as_any().downcast_ref::<BooleanArray>();
            (0..array.len())
                .map(|i| match b {
                    Some(a) if !nulls(i) => Value::from(a.value(i)),
                    _ => Value::Null,
                })
                .collect()
        }
        ColumnType::Text => {
            let s = cast(array, &DataType::Utf8)?;
            let s = s.as_any().downcast_ref::<StringArray>();
            (0..array.len())
                .map(|i| match s {
                    Some(a) if !nulls(i) => Value::from(a.value(i)),
                    _ => Value::Null,
                })
                .collect()
        }
    })
}

/// Columns and rows of `batches` (all of `schema`).
pub fn to_json(
    schema: &arrow::datatypes::Schema,
    batches: &[RecordBatch],
) -> Result<(Vec<Column>, Vec<Vec<Value>>)> {
    let columns: Vec<Column> = schema
        .fields()
        .iter()
        .map(|f| Column {
            name: f.name().clone(),
            kind: column_type(f.data_type()),
        })
        .collect();
    let mut rows = Vec::new();
    for batch in batches {
        let mut cols = Vec::with_capacity(columns.len());
        for (array, c) in batch.columns().iter().zip(&columns) {
            cols.push(values(array, c.kind)?);
        }
        for i in 0..batch.num_rows() {
            rows.push(cols.iter().map(|c| c[i].clone()).collect());
        }
    }
    Ok((columns, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::TimestampMillisecondArray;
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    #[test]
    fn times_numbers_and_nulls() {
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            ),
            Field::new("n", DataType::Float64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(
                    TimestampMillisecondArray::from(vec![Some(1_000), None]).with_timezone("UTC"),
                ),
                Arc::new(Float64Array::from(vec![Some(f64::NAN), Some(2.5)])),
                Arc::new(StringArray::from(vec![Some("a"), None])),
            ],
        )
        .unwrap();
        let (columns, rows) = to_json(&schema, &[batch]).unwrap();
        assert_eq!(columns[0].kind, ColumnType::Time);
        assert_eq!(columns[1].kind, ColumnType::Number);
        assert_eq!(
            rows[0],
            vec![Value::from(1_000), Value::Null, Value::from("a")]
        );
        assert_eq!(rows[1], vec![Value::Null, Value::from(2.5), Value::Null]);
    }
}
