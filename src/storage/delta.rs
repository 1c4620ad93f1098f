//! Thin helpers over `deltalake`: open, create-with-data, statistics, and the
//! Arrow → Delta type mapping (Delta has no unsigned ints, no nanosecond
//! timestamps and no view types, so those are widened before writing).

use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::DeltaTable;
use deltalake::protocol::SaveMode;
use url::Url;

use crate::error::{Result, VoidxError};

/// A `file://` URL for a local directory, or the URL itself. `create`
/// makes the directory (only writers may create it).
pub fn location_url(location: &str, create: bool) -> Result<Url> {
    if location.contains("://") {
        return Url::parse(location).map_err(|e| {
            VoidxError::InvalidArgument(format!("invalid location '{location}': {e}"))
        });
    }
    let path = Path::new(location);
    if create {
        std::fs::create_dir_all(path)?;
    }
    let abs = std::path::absolute(path)?;
    Url::from_directory_path(&abs)
        .map_err(|_| VoidxError::Internal(format!("cannot turn {} into a URL", abs.display())))
}

pub async fn open(location: &str) -> Result<DeltaTable> {
    let url = location_url(location, false)?;
    // delta-rs reports a missing local directory as an OS error dump; say it plainly.
    // (`to_file_path` ignores the scheme: `memory:///x` would become `/x`.)
    if url.scheme() == "file"
        && let Ok(path) = url.to_file_path()
        && !path.exists()
    {
        return Err(VoidxError::InvalidArgument(
            "the directory does not exist".to_string(),
        ));
    }
    let table = deltalake::open_table(url).await?;
    check_file_paths(&table)?;
    Ok(table)
}

pub async fn open_at(location: &str, version: u64) -> Result<DeltaTable> {
    let table = deltalake::open_table_with_version(location_url(location, false)?, version).await?;
    check_file_paths(&table)?;
    Ok(table)
}

/// Refuses a snapshot that names a data file outside the table's own
/// location. The Delta log names files relative to the table root, but
/// delta-rs also follows absolute URLs and `..` in them, so a log VOIDX did
/// not write (an external table's, or one changed behind its back) could
/// otherwise read any Parquet file a store here reaches: a managed table a
/// login has no grant on, or a file outside every allowed location. Called
/// whenever a new version is loaded, not per statement.
pub fn check_file_paths(table: &DeltaTable) -> Result<()> {
    let Ok(snapshot) = table.snapshot() else {
        return Ok(()); // no version loaded: nothing to read
    };
    let mut root = table.table_url().clone();
    if !root.path().ends_with('/') {
        root.set_path(&format!("{}/", root.path()));
    }
    for file in snapshot.log_data() {
        // Decoded once, as delta-rs decodes it. The scan resolves the raw
        // (encoded) path: decoding only adds separators and dot segments,
        // which makes this check stricter, except `?` and `#`, which would
        // end the path here while the scan still resolves what follows
        // (`x%3F/../../secret`). delta-rs writes neither (it encodes
        // partition values twice), so a path holding one is refused.
        let path = file.path();
        let inside = !path.contains(['?', '#'])
            && Url::parse(&path)
                .or_else(|_| root.join(&path))
                .is_ok_and(|url| url.as_str().starts_with(root.as_str()));
        if !inside {
            return Err(VoidxError::NotAllowed(format!(
                "the Delta log at {root} names the data file '{path}', which is outside the table's location; VOIDX reads only files under a table's own directory. Help: rewrite the table there (for example with python deltalake's write_deltalake) so its log names relative paths"
            )));
        }
    }
    Ok(())
}

/// Rewrites of a small shared table (the catalog, `voidx.models`, job and
/// alert definitions) per change, at most, while other servers keep
/// committing first.
pub const REWRITE_ATTEMPTS: u32 = 20;

/// Waits before attempt `attempt + 1` of a rewrite that lost a commit race:
/// up to 10 ms, doubling to 640 ms, with full jitter so the losers do not
/// collide again in step.
pub async fn race_backoff(attempt: u32) {
    let ceiling = 5u64 << attempt.clamp(1, 7);
    let wait = std::time::Duration::from_millis(rand::random_range(1..=ceiling));
    tokio::time::sleep(wait).await;
}

/// Create the table at `location` holding `batches` as its first commit
/// (version 0), so a crash leaves either a complete table or none.
pub async fn create_with(
    location: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<DeltaTable> {
    write_all(location, &schema, batches, SaveMode::ErrorIfExists).await
}

/// Replace the whole content of a (possibly not yet existing) table in one commit.
pub async fn overwrite(
    location: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<DeltaTable> {
    write_all(location, &schema, batches, SaveMode::Overwrite).await
}

/// Replace the whole content of the table `base` as it was read, in one
/// commit: when any other writer committed to it after `base` was read,
/// the commit fails with a commit race ([`crate::error::commit_race`]) and
/// the caller computes its rows again from the newer version.
pub async fn overwrite_on(
    base: DeltaTable,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<DeltaTable> {
    let input = delta_batches(&schema, batches)?;
    Ok(base
        .write(input)
        .with_save_mode(SaveMode::Overwrite)
        .with_commit_properties(no_rebase())
        .await?)
}

/// Commit properties for a rewrite computed from one version: no retry.
/// delta-rs' own retry rebases a losing commit onto the winner's version
/// when its conflict checker sees no overlap — and an overwrite of a
/// version that held no data files removes nothing the winner removed, so
/// the rebased rewrite left the table holding both writers' rows while the
/// writer believed it held only its own (a model version vanished on the
/// next rewrite with two replicas). Without the retry, the race is
/// reported and the caller recomputes from the winner's rows.
fn no_rebase() -> deltalake::kernel::transaction::CommitProperties {
    deltalake::kernel::transaction::CommitProperties::default().with_max_retries(0)
}

/// Replace the whole content and the schema of a table in one commit: the
/// catalog's own table, whose columns grow with new releases. Written on
/// top of `base` (the table as read; `None` creates it), so the commit
/// fails with a commit race ([`crate::error::commit_race`]) when another
/// writer committed to it after `base` was read, instead of silently
/// undoing that writer's change.
pub async fn replace(
    location: &str,
    base: Option<DeltaTable>,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<DeltaTable> {
    let input = delta_batches(&schema, batches)?;
    let table = match base {
        Some(table) => table,
        None => DeltaTable::try_from_url(location_url(location, true)?).await?,
    };
    Ok(table
        .write(input)
        .with_configuration(LOG_CLEANUP_OFF)
        .with_save_mode(SaveMode::Overwrite)
        .with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite)
        .with_commit_properties(no_rebase())
        .await?)
}

/// Append `batches` in one commit, creating the table if needed.
pub async fn append(
    location: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<DeltaTable> {
    write_all(location, &schema, batches, SaveMode::Append).await
}

/// Append `batches` in one commit to an open table, starting from its
/// loaded snapshot; the table returned holds the snapshot after the commit.
/// A long-lived writer uses this instead of [`append`], which loads the
/// whole snapshot again from storage for every commit.
pub async fn append_to(
    table: &DeltaTable,
    schema: &Schema,
    batches: Vec<RecordBatch>,
) -> Result<DeltaTable> {
    let input = delta_batches(schema, batches)?;
    Ok(table
        .clone()
        .write(input)
        .with_save_mode(SaveMode::Append)
        .await?)
}

async fn write_all(
    location: &str,
    schema: &Schema,
    batches: Vec<RecordBatch>,
    mode: SaveMode,
) -> Result<DeltaTable> {
    let input = delta_batches(schema, batches)?;
    let table = DeltaTable::try_from_url(location_url(location, true)?).await?;
    Ok(table
        .write(input)
        .with_configuration(LOG_CLEANUP_OFF)
        .with_save_mode(mode)
        .await?)
}

/// The properties of every table VOIDX creates: no expired-log cleanup
/// after each commit. delta-rs' cleanup (on by default) lists and stats the
/// whole `_delta_log` after every commit to find files past
/// `delta.logRetentionDuration`, so a table appended to every few seconds
/// paid for each of its commits again at every commit (the 1-hour soak's
/// `ingest` runs slowed from 252 ms to 948 ms). VOIDX cleans the log when it
/// compacts the table instead (`compaction::Compaction::compact`), so old
/// log files still go, at most every `storage.compact_every` commits. Only
/// applies when a table is created; tables created by earlier versions keep
/// delta-rs' per-commit cleanup.
pub const LOG_CLEANUP_OFF: [(&str, Option<&str>); 1] =
    [("delta.enableExpiredLogCleanup", Some("false"))];

/// `batches` cast to what Delta stores; one empty batch when there are
/// none, so the table still gets its schema.
fn delta_batches(schema: &Schema, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
    let delta_schema = delta_schema(schema);
    let mut input = batches
        .into_iter()
        .map(|b| cast_batch(&b, &delta_schema))
        .collect::<Result<Vec<_>>>()?;
    if input.is_empty() {
        input.push(RecordBatch::new_empty(delta_schema));
    }
    Ok(input)
}

/// The schema a Delta table can store for `schema`.
pub fn delta_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| Field::new(f.name(), delta_type(f.data_type()), f.is_nullable()))
        .collect();
    Arc::new(Schema::new(fields))
}

fn delta_type(t: &DataType) -> DataType {
    match t {
        DataType::UInt8 => DataType::Int16,
        DataType::UInt16 => DataType::Int32,
        DataType::UInt32 | DataType::UInt64 => DataType::Int64,
        DataType::Float16 => DataType::Float32,
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
        DataType::Date64 => DataType::Date32,
        DataType::Null => DataType::Utf8,
        DataType::Dictionary(_, value) => delta_type(value),
        other => other.clone(),
    }
}

pub fn cast_batch(batch: &RecordBatch, target: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema().fields() == target.fields() {
        return Ok(batch.clone());
    }
    let columns = batch
        .columns()
        .iter()
        .zip(target.fields())
        .map(|(col, field)| cast(col, field.data_type()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(Arc::clone(target), columns)?)
}

/// Rows and bytes of the current snapshot, from the log (no data is read).
pub fn stats(table: &DeltaTable) -> Result<(i64, i64)> {
    let snapshot = table.snapshot()?;
    let (mut rows, mut bytes) = (0i64, 0i64);
    for file in snapshot.log_data() {
        rows += file.num_records().unwrap_or(0) as i64;
        bytes += file.size();
    }
    Ok((rows, bytes))
}

#[cfg(test)]
mod tests {
    use arrow::array::Int64Array;

    use super::*;

    fn ids(values: &[i64]) -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int64Array::from(values.to_vec()))],
        )
        .unwrap();
        (schema, vec![batch])
    }

    async fn content(location: &str) -> Vec<i64> {
        let table = open(location).await.unwrap();
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.register_table("t", table.table_provider().await.unwrap())
            .unwrap();
        let batches = ctx
            .sql("SELECT id FROM t ORDER BY id")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        batches
            .iter()
            .flat_map(|b| {
                let col = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                col.values().to_vec()
            })
            .collect()
    }

    /// Two writers rewrite a table from the same version. The second must
    /// lose: delta-rs' own retry would commit it on top of the first one's
    /// rewrite, and when the version read held no data file (an empty
    /// table: nothing for the two rewrites to both remove) its conflict
    /// checker finds nothing, so the table ends up as the union of both
    /// while each writer believes it holds only its own rows — and the
    /// writer's next rewrite silently drops the other's (seen as a lost
    /// model version with two replicas training at once).
    #[tokio::test]
    async fn a_rewrite_on_a_version_another_writer_replaced_loses_the_race() {
        for initial in [&[][..], &[1, 2][..]] {
            let dir = tempfile::tempdir().unwrap();
            let location = dir.path().join("t").display().to_string();
            let (schema, batches) = ids(initial);
            create_with(&location, Arc::clone(&schema), batches)
                .await
                .unwrap();
            let first = open(&location).await.unwrap();
            let second = open(&location).await.unwrap();
            let (_, batches) = ids(&[10]);
            overwrite_on(first, Arc::clone(&schema), batches)
                .await
                .unwrap();
            let (_, batches) = ids(&[20]);
            let err = overwrite_on(second, Arc::clone(&schema), batches)
                .await
                .expect_err("the second rewrite read a replaced version");
            assert!(err.commit_race().is_some(), "{err}");
            assert_eq!(content(&location).await, [10], "initial {initial:?}");

            let stale = open(&location).await.unwrap();
            let (_, batches) = ids(&[30]);
            replace(
                &location,
                Some(open(&location).await.unwrap()),
                Arc::clone(&schema),
                batches,
            )
            .await
            .unwrap();
            let (_, batches) = ids(&[40]);
            let err = replace(&location, Some(stale), Arc::clone(&schema), batches)
                .await
                .expect_err("the second replace read a replaced version");
            assert!(err.commit_race().is_some(), "{err}");
            assert_eq!(content(&location).await, [30]);
        }
    }
}
