//! The commits of a run after its pending state: the quarantine rows
//! (tagged with the run id, so an unfinished run's rows can be found and
//! deleted), then the data commit — append, overwrite or merge — which
//! carries the run's sequence number as a Delta application transaction and
//! is therefore the run's single commit point.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;

use super::IngestJob;
use super::options::Mode;
use super::state::{COMMIT_KEY, Mark, TXN_APP_ID};
use crate::error::Result;
use crate::storage::catalog::now_ms;

impl IngestJob {
    /// Appends the rows that broke a rule to `<target>__quarantine` (created
    /// on first use) with `_rule`, `_reason`, `_run_id` and `_quarantined_at`.
    pub(super) async fn quarantine(
        &self,
        bad: &RecordBatch,
        reasons: &[(String, String)],
        run_id: &str,
    ) -> Result<()> {
        let name = self.quarantine_name();
        let mut fields: Vec<Field> = bad
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        fields.push(Field::new("_rule", DataType::Utf8, false));
        fields.push(Field::new("_reason", DataType::Utf8, false));
        fields.push(Field::new("_run_id", DataType::Utf8, false));
        fields.push(Field::new(
            "_quarantined_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ));
        let schema = Arc::new(Schema::new(fields));
        let n = bad.num_rows();
        let mut columns: Vec<ArrayRef> = bad.columns().to_vec();
        columns.push(Arc::new(StringArray::from_iter_values(
            reasons.iter().map(|r| r.0.as_str()),
        )));
        columns.push(Arc::new(StringArray::from_iter_values(
            reasons.iter().map(|r| r.1.as_str()),
        )));
        columns.push(Arc::new(StringArray::from_iter_values(
            std::iter::repeat_n(run_id, n),
        )));
        let now = now_ms() * 1000;
        columns.push(Arc::new(
            TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC"),
        ));
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
        let catalog = &self.shared.catalog;
        let table = match catalog.get(&self.schema, &name).and_then(|e| e.location) {
            Some(location) => catalog.delta_table(&location).await?,
            None => self.create_table(&name, Arc::clone(&schema)).await?,
        };
        table
            .write(vec![batch])
            .with_save_mode(SaveMode::Append)
            .with_schema_mode(deltalake::operations::write::SchemaMode::Merge)
            .await?;
        Ok(())
    }
}

/// The data commit: `good` appended, overwriting, or merged on `keys`, with
/// the run's sequence number. It always commits, even with no rows, because
/// it is what makes the run's mark (and watermark) current.
pub(super) async fn data(
    table: DeltaTable,
    good: RecordBatch,
    mode: Mode,
    evolve: bool,
    keys: &[String],
    mark: &Mark,
) -> Result<DeltaTable> {
    let metadata = serde_json::json!({
        "run_id": mark.run_id,
        "seq": mark.seq,
        "watermark_column": mark.watermark_column,
        "watermark": mark.watermark,
    });
    let commit = CommitProperties::default()
        .with_metadata([(COMMIT_KEY.to_string(), metadata)])
        .with_application_transaction(Transaction::new(TXN_APP_ID, mark.seq));
    // A merge of nothing makes no commit; an empty append does.
    let mode = match mode {
        Mode::Merge if good.num_rows() == 0 => Mode::Append,
        other => other,
    };
    let table = match mode {
        Mode::Append | Mode::Overwrite => {
            let save = if mode == Mode::Overwrite {
                SaveMode::Overwrite
            } else {
                SaveMode::Append
            };
            let mut builder = table
                .write(vec![good])
                .with_commit_properties(commit)
                .with_save_mode(save);
            if evolve {
                builder = builder.with_schema_mode(deltalake::operations::write::SchemaMode::Merge);
            }
            builder.await?
        }
        Mode::Merge => merge(table, good, keys, commit).await?,
    };
    Ok(table)
}

/// Merge `good` into `table` on `keys`: matched rows updated, new rows inserted.
async fn merge(
    table: DeltaTable,
    good: RecordBatch,
    keys: &[String],
    commit: CommitProperties,
) -> Result<DeltaTable> {
    let columns: Vec<String> = good
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let predicate = keys
        .iter()
        .map(|k| format!("target.{0} = source.{0}", quote_ident(k)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let ctx = SessionContext::new();
    let source = ctx.read_batch(good)?;
    let (table, _metrics) = table
        .merge(source, predicate)
        .with_source_alias("source")
        .with_target_alias("target")
        .with_commit_properties(commit)
        .when_matched_update(|mut update| {
            for c in &columns {
                update = update.update(quote_ident(c), format!("source.{}", quote_ident(c)));
            }
            update
        })?
        .when_not_matched_insert(|mut insert| {
            for c in &columns {
                insert = insert.set(quote_ident(c), format!("source.{}", quote_ident(c)));
            }
            insert
        })?
        .await?;
    Ok(table)
}

pub(super) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
