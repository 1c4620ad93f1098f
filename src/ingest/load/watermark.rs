//! The high-water mark: read back from the target, and computed over the rows read.

use super::*;

impl IngestJob {
    /// The watermark of the newest ingest commit of the target for `column`.
    pub(super) async fn last_watermark(
        &self,
        engine: &Engine,
        column: &str,
    ) -> Result<Option<String>> {
        let Some(entry) = engine.catalog.get(&self.schema, &self.name) else {
            return Ok(None);
        };
        let Some(location) = entry.location.as_deref() else {
            return Ok(None);
        };
        let table = engine.catalog.delta_table(location).await?;
        let mut history = table.history(Some(HISTORY_LIMIT));
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
            // An overwrite by someone else resets what was loaded.
            if info.operation.as_deref() == Some("WRITE")
                && info
                    .operation_parameters
                    .as_ref()
                    .and_then(|p| p.get("mode"))
                    .and_then(|m| m.as_str())
                    == Some("Overwrite")
                && !info.info.contains_key(COMMIT_KEY)
            {
                return Ok(None);
            }
        }
        Ok(None)
    }
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
        Some(v) => {
            let text = v.cast_to(&DataType::Utf8)?;
            match text {
                ScalarValue::Utf8(s) => s,
                other => Some(other.to_string()),
            }
        }
        None => None,
    })
}
