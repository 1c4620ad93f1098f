//! The high-water mark: the filter that reads only rows past it, the new
//! mark computed over the rows read, and the mark of tables loaded before
//! the ingest state existed (read once from their commit metadata).

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::prelude::{DataFrame, col, lit};
use deltalake::DeltaTable;
use futures::StreamExt;

use super::column_list;
use super::state::COMMIT_KEY;
use super::write::quote_ident;
use crate::error::{Result, VoidxError};

/// How far back the log of a table without ingest state is searched.
const LEGACY_HISTORY_LIMIT: usize = 1000;

/// `df` with `WHERE column > mark` when both are set; checks the column exists.
pub(super) fn filter(df: DataFrame, column: Option<&str>, mark: Option<&str>) -> Result<DataFrame> {
    let Some(column) = column else {
        return Ok(df);
    };
    let field = df
        .schema()
        .fields()
        .iter()
        .find(|f| f.name() == column)
        .cloned()
        .ok_or_else(|| {
            VoidxError::InvalidArgument(format!(
                "watermark column '{column}' is not a column of the ingest query. Help: the query returns {}",
                column_list(df.schema().fields())
            ))
        })?;
    let Some(mark) = mark else {
        return Ok(df);
    };
    let value = ScalarValue::Utf8(Some(mark.to_string()))
        .cast_to(field.data_type())
        .map_err(|e| {
            VoidxError::InvalidArgument(format!(
                "the stored watermark '{mark}' does not fit column '{column}' ({}): {e}",
                field.data_type()
            ))
        })?;
    Ok(df.filter(col(quote_ident(column)).gt(lit(value)))?)
}

/// The watermark of a table last loaded by a VOIDX without ingest state:
/// the newest ingest commit's metadata for `column`, searched in the last
/// 1,000 commits. Used only until the first run stores the state.
pub(super) async fn legacy(table: &DeltaTable, column: &str) -> Result<Option<String>> {
    let mut history = table.history(Some(LEGACY_HISTORY_LIMIT));
    while let Some(info) = history.next().await {
        let info = info?;
        if info.operation.as_deref() == Some("CREATE TABLE") {
            continue;
        }
        if let Some(meta) = info.info.get(COMMIT_KEY)
            && meta.get("watermark_column").and_then(|v| v.as_str()) == Some(column)
        {
            return Ok(meta
                .get("watermark")
                .and_then(|v| v.as_str())
                .map(str::to_string));
        }
    }
    Ok(None)
}

/// The largest value of `column`, as text that casts back to its type.
pub(super) fn max_as_text(batch: &RecordBatch, column: &str) -> Result<Option<String>> {
    let Ok(i) = batch.schema().index_of(column) else {
        return Ok(None);
    };
    let array = batch.column(i);
    if array.len() == array.null_count() {
        return Ok(None);
    }
    let mut best: Option<ScalarValue> = None;
    for row in 0..array.len() {
        if array.is_null(row) {
            continue;
        }
        let v = ScalarValue::try_from_array(array, row)?;
        if best
            .as_ref()
            .is_none_or(|b| v.partial_cmp(b) == Some(std::cmp::Ordering::Greater))
        {
            best = Some(v);
        }
    }
    Ok(match best {
        Some(v) => match v.cast_to(&DataType::Utf8)? {
            ScalarValue::Utf8(s) => s,
            other => Some(other.to_string()),
        },
        None => None,
    })
}
