//! The commits of a run: quarantine rows and the data (append, overwrite or merge).

use super::*;

impl IngestJob {
    pub(super) async fn quarantine(
        &self,
        engine: &Arc<Engine>,
        bad: &RecordBatch,
        reasons: &[(String, String)],
        run_id: &str,
    ) -> Result<()> {
        let name = format!("{}__quarantine", self.name);
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
            arrow::array::TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC"),
        ));
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
        let location = match engine.catalog.get(&self.schema, &name) {
            Some(entry) => entry.location.unwrap_or_default(),
            None => {
                engine
                    .create_table_with_data(&self.schema, &name, Arc::clone(&schema), Vec::new())
                    .await?;
                engine
                    .catalog
                    .get(&self.schema, &name)
                    .and_then(|e| e.location)
                    .unwrap_or_default()
            }
        };
        let table = engine.catalog.delta_table(&location).await?;
        table
            .write(vec![batch])
            .with_save_mode(SaveMode::Append)
            .with_schema_mode(deltalake::operations::write::SchemaMode::Merge)
            .await?;
        Ok(())
    }
}

/// Merge `good` into `table` on `keys`: matched rows updated, new rows inserted.
pub(super) async fn merge(
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
