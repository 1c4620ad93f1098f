//! The persistent catalog: schemas, managed Delta tables, views and external
//! tables, stored as the Delta table `<data_dir>/voidx/catalog`.
//!
//! Every DDL statement is one overwrite commit of that table, so the catalog
//! changes atomically (a crash leaves the previous or the next version, never
//! half of one), has a history, and is readable by any Delta reader. The
//! in-memory copy is swapped only after the commit succeeds.
//!
//! Several servers may share one data directory (replicas). A change is
//! applied to the latest committed catalog, never to this process's copy,
//! and written on top of the very version it was applied to: when another
//! process committed in between, Delta refuses the commit and the change is
//! applied again to the newer version, so no server drops another's DDL.
//! [`Catalog::refresh`] loads what other servers committed; the server calls
//! it every `storage.refresh_ms`.
//!
//! ```no_run
//! # async fn f(c: &voidx::storage::catalog::Catalog) -> voidx::error::Result<()> {
//! let names = c.table_names("shop");
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};

use super::compaction::Compaction;
use super::data_dir::DataDir;
use super::delta;
use super::table_memory::TableMemory;
use crate::error::{Result, VoidxError};

/// The schema that holds system tables; users cannot create objects in it.
pub const SYSTEM_SCHEMA: &str = "voidx";
pub const DEFAULT_SCHEMA: &str = "public";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Schema,
    Table,
    View,
    External,
}

impl Kind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Schema => "schema",
            Kind::Table => "table",
            Kind::View => "view",
            Kind::External => "external",
        }
    }

    fn parse(s: &str) -> Result<Kind> {
        Ok(match s {
            "schema" => Kind::Schema,
            "table" => Kind::Table,
            "view" => Kind::View,
            "external" => Kind::External,
            other => {
                return Err(VoidxError::Internal(format!(
                    "unknown catalog kind '{other}'"
                )));
            }
        })
    }
}

/// One catalog object. Schemas are entries with an empty `name`.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub schema: String,
    pub name: String,
    pub kind: Kind,
    /// Delta location of managed tables and external tables.
    pub location: Option<String>,
    /// The defining statement of views and external tables.
    pub definition: Option<String>,
    /// File type of external tables (`CSV`, `PARQUET`, `DELTATABLE`, …).
    pub format: Option<String>,
    pub created_at_ms: i64,
    /// `COMMENT ON TABLE | VIEW` text.
    pub comment: Option<String>,
    /// `COMMENT ON COLUMN` texts by column name.
    pub column_comments: BTreeMap<String, String>,
}

impl Entry {
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// Is the data a Delta table we open fresh at every lookup?
    pub fn is_delta(&self) -> bool {
        self.kind == Kind::Table
            || (self.kind == Kind::External && self.format.as_deref() == Some("DELTATABLE"))
    }
}

type Key = (String, String);

pub struct Catalog {
    data_dir: DataDir,
    entries: RwLock<BTreeMap<Key, Entry>>,
    /// Serialises this process's catalog commits and refreshes, and holds
    /// the catalog version `entries` were read at (`None` before the first
    /// load). Readers never wait on it.
    commit: tokio::sync::Mutex<Option<u64>>,
    /// Open Delta tables by location, each behind its own lock so lookups
    /// of different tables never wait on each other.
    open_tables: std::sync::Mutex<HashMap<String, OpenTable>>,
    /// Decoded rows of small tables, by version.
    memory: Arc<TableMemory>,
    /// When the tables the server appends to are compacted.
    compaction: Compaction,
    /// Locations of user tables being compacted now, one compaction each.
    compacting: std::sync::Mutex<HashSet<String>>,
}

/// One open Delta table; `None` until the first lookup has loaded it.
type OpenTable = Arc<tokio::sync::Mutex<Option<Opened>>>;

/// An open table and the version it was last loaded from storage at.
struct Opened {
    table: DeltaTable,
    loaded_at: u64,
}

/// Commits applied to an open snapshot before it is loaded afresh instead.
///
/// delta-rs applies each new commit to an open snapshot as a batch of file
/// actions of its own and never merges them, so a table that is written all
/// day (an `ingest` target, a system table) and read after every commit kept
/// one more batch per commit for the life of the process — the soak's
/// growth under `ingest`. A fresh load reads the latest checkpoint (one
/// every 100 commits by default) plus the commits after it, so reloading
/// every 100 applied commits keeps the snapshot at most ~200 batches.
const REOPEN_AFTER: u64 = 100;

/// Default budget of [`TableMemory`] (`limits.table_cache_mb`).
pub const DEFAULT_TABLE_MEMORY_BYTES: u64 = 256 * 1024 * 1024;

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("data_dir", &self.data_dir)
            .finish()
    }
}

impl Catalog {
    /// Open the catalog of `data_dir` (a directory or an object-store URL,
    /// [`DataDir::open`]), creating it (with schema `public`) on first start.
    pub async fn open(data_dir: &str) -> Result<Arc<Catalog>> {
        Catalog::open_with(
            DataDir::open(data_dir)?,
            DEFAULT_TABLE_MEMORY_BYTES,
            Compaction::default(),
        )
        .await
    }

    /// [`Catalog::open`] with `table_memory_bytes` of decoded small tables
    /// ([`TableMemory`]; 0 = none) and the compaction of append-only tables.
    pub async fn open_with(
        data_dir: DataDir,
        table_memory_bytes: u64,
        compaction: Compaction,
    ) -> Result<Arc<Catalog>> {
        let catalog = Catalog {
            data_dir,
            entries: RwLock::new(BTreeMap::new()),
            commit: tokio::sync::Mutex::new(None),
            open_tables: std::sync::Mutex::new(HashMap::new()),
            memory: Arc::new(TableMemory::new(table_memory_bytes)),
            compaction,
            compacting: std::sync::Mutex::new(HashSet::new()),
        };
        // On first start this creates the catalog; when another server
        // created it meanwhile, the change finds `public` there and commits
        // nothing.
        catalog
            .commit_change(|entries| {
                let e = schema_entry(DEFAULT_SCHEMA);
                entries.entry(key(&e)).or_insert(e);
                Ok(())
            })
            .await?;
        Ok(Arc::new(catalog))
    }

    pub fn data_dir(&self) -> &DataDir {
        &self.data_dir
    }

    pub fn catalog_location(&self) -> String {
        self.data_dir.location(&[SYSTEM_SCHEMA, "catalog"])
    }

    /// A fresh directory for a new managed table; never reused, so a
    /// dropped table's files can't leak into a new one of the same name.
    pub fn new_table_location(&self, schema: &str, name: &str) -> String {
        let suffix: u32 = rand::random();
        self.data_dir
            .location(&["tables", schema, &format!("{name}-{suffix:08x}")])
    }

    fn read_entries(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Key, Entry>> {
        self.entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_entries(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<Key, Entry>> {
        self.entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn schema_names(&self) -> Vec<String> {
        self.read_entries()
            .values()
            .filter(|e| e.kind == Kind::Schema)
            .map(|e| e.schema.clone())
            .collect()
    }

    pub fn schema_exists(&self, schema: &str) -> bool {
        self.read_entries()
            .contains_key(&(schema.to_string(), String::new()))
    }

    /// `COMMENT ON SCHEMA` text of `schema`.
    pub fn schema_comment(&self, schema: &str) -> Option<String> {
        self.read_entries()
            .get(&(schema.to_string(), String::new()))
            .and_then(|e| e.comment.clone())
    }

    pub fn table_names(&self, schema: &str) -> Vec<String> {
        self.read_entries()
            .values()
            .filter(|e| e.schema == schema && e.kind != Kind::Schema)
            .map(|e| e.name.clone())
            .collect()
    }

    pub fn get(&self, schema: &str, name: &str) -> Option<Entry> {
        if name.is_empty() {
            return None;
        }
        self.read_entries()
            .get(&(schema.to_string(), name.to_string()))
            .cloned()
    }

    /// All non-schema entries, ordered by schema and name.
    pub fn objects(&self) -> Vec<Entry> {
        self.read_entries()
            .values()
            .filter(|e| e.kind != Kind::Schema)
            .cloned()
            .collect()
    }

    /// Every entry (schemas too) as `voidx.catalog` rows, each passed
    /// through `show` first (which hides secrets).
    pub fn readable_batch(&self, show: impl Fn(Entry) -> Entry) -> Result<RecordBatch> {
        let entries: Vec<Entry> = self.read_entries().values().cloned().map(show).collect();
        entries_to_batch(entries.iter())
    }

    /// Apply `change` to a copy of the latest committed entries, commit the
    /// copy as a new catalog version, then publish it. If `change` or the
    /// commit fails, nothing changes; a change that changes nothing commits
    /// nothing. When another server commits first, `change` runs again on
    /// its version (so it must decide from the entries it is given, not
    /// from what it saw before), up to [`delta::REWRITE_ATTEMPTS`] times.
    pub async fn commit_change<F>(&self, mut change: F) -> Result<()>
    where
        F: FnMut(&mut BTreeMap<Key, Entry>) -> Result<()>,
    {
        let mut loaded = self.commit.lock().await;
        let location = self.catalog_location();
        for attempt in 1..=delta::REWRITE_ATTEMPTS {
            let base = self.latest(&mut loaded).await?;
            let mut next = self.read_entries().clone();
            change(&mut next)?;
            if base.is_some() && next == *self.read_entries() {
                return Ok(());
            }
            let batch = entries_to_batch(next.values())?;
            crate::failpoint::hit("catalog.before_commit")?;
            match delta::replace(&location, base, batch.schema(), vec![batch]).await {
                Ok(table) => {
                    crate::failpoint::hit("catalog.after_commit")?;
                    *self.write_entries() = next;
                    *loaded = table.version();
                    return Ok(());
                }
                Err(e) if e.commit_race().is_some() && attempt < delta::REWRITE_ATTEMPTS => {
                    tracing::debug!(
                        attempt,
                        "catalog commit raced another server; applying the change again"
                    );
                    delta::race_backoff(attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(VoidxError::Internal(
            "the catalog commit kept losing races with other servers".into(),
        ))
    }

    /// Loads what other servers committed to the catalog since this process
    /// last read it (one existence check when nothing changed) and returns
    /// the entries that changed or left, so that what the process holds for
    /// them can be dropped.
    pub async fn refresh(&self) -> Result<Vec<Entry>> {
        let mut loaded = self.commit.lock().await;
        let before = self.read_entries().clone();
        self.latest(&mut loaded).await?;
        let now = self.read_entries();
        Ok(before
            .into_values()
            .filter(|e| now.get(&key(e)) != Some(e))
            .collect())
    }

    /// The latest catalog version, with `entries` brought up to it; `None`
    /// when there is no catalog yet. Called with the commit lock held
    /// (`loaded`).
    async fn latest(&self, loaded: &mut Option<u64>) -> Result<Option<DeltaTable>> {
        let location = self.catalog_location();
        if loaded.is_none() && !self.data_dir.holds_table(&location).await? {
            return Ok(None);
        }
        let table = self.delta_table(&location).await?;
        if table.version() != *loaded {
            *self.write_entries() = entries_of(&table).await?;
            *loaded = table.version();
        }
        Ok(Some(table))
    }

    /// The current version of the Delta table at `location`, opened once
    /// per process. A lookup costs one existence check of the next commit
    /// file when nothing changed; only when it exists (a commit by this or
    /// any other process) is the log read.
    pub async fn delta_table(&self, location: &str) -> Result<DeltaTable> {
        let slot = {
            let mut open = self.open_tables.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(open.entry(location.to_string()).or_default())
        };
        let mut slot = slot.lock().await;
        if let Some(open) = slot.as_mut() {
            if !has_newer_commit(&open.table).await? {
                return Ok(open.table.clone());
            }
            let applied = open
                .table
                .version()
                .unwrap_or(0)
                .saturating_sub(open.loaded_at);
            if applied < REOPEN_AFTER {
                open.table.update_incremental(None).await?;
                if let Err(e) = delta::check_file_paths(&open.table) {
                    *slot = None; // never serve this version from the cache
                    return Err(e);
                }
                return Ok(open.table.clone());
            }
        }
        let table = delta::open(location).await?;
        *slot = Some(Opened {
            loaded_at: table.version().unwrap_or(0),
            table: table.clone(),
        });
        Ok(table)
    }

    pub fn forget_table(&self, location: &str) {
        self.open_tables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(location);
    }

    /// Decoded rows of small tables, shared by every scan in this process.
    pub fn table_memory(&self) -> &Arc<TableMemory> {
        &self.memory
    }

    /// When the tables the server appends to in small commits are compacted
    /// (`[storage]`).
    pub fn compaction(&self) -> Compaction {
        self.compaction
    }

    /// After a write to the managed table `schema.name` (`INSERT`, `UPDATE`,
    /// `DELETE`, `MERGE`, `ingest`): when it holds `storage.compact_every`
    /// small files, packs them before the statement answers. In the
    /// statement, not in a task of its own: a background compaction raced
    /// the same session's next `UPDATE` or `DELETE` and made it fail with
    /// 40001 (found by `compaction::user_tables_written_in_small_commits_are_compacted`);
    /// a session never conflicts with its own upkeep this way. The cost is
    /// one rewrite of at most `compact_every` small files every
    /// `compact_every` commits. One compaction per table at a time (another
    /// writer tipping it over meanwhile skips); best effort, like every
    /// compaction. Returns whether it compacted.
    pub async fn compact_after_write(&self, schema: &str, name: &str) -> bool {
        let Some(entry) = self.get(schema, name) else {
            return false;
        };
        // External Delta tables belong to whoever writes them.
        if entry.kind != Kind::Table {
            return false;
        }
        let qualified = entry.qualified();
        let Some(location) = entry.location else {
            return false;
        };
        let Ok(table) = self.delta_table(&location).await else {
            return false;
        };
        if !self.compaction.is_due(&table) || !self.lock_compacting().insert(location.clone()) {
            return false;
        }
        let _running = Compacting {
            catalog: self,
            location,
        };
        self.compaction
            .after_commit(&table, &qualified)
            .await
            .is_some()
    }

    fn lock_compacting(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.compacting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A user table's compaction in flight; the table is free again when its
/// compaction ends, however it ends (a cancelled statement included).
struct Compacting<'a> {
    catalog: &'a Catalog,
    location: String,
}

impl Drop for Compacting<'_> {
    fn drop(&mut self) {
        self.catalog.lock_compacting().remove(&self.location);
    }
}

/// Does the log hold a commit after the loaded version? Delta writes every
/// version as `_delta_log/<version, 20 digits>.json` with put-if-absent, so
/// the next version's file existing is exactly "someone committed".
async fn has_newer_commit(table: &DeltaTable) -> Result<bool> {
    let Some(version) = table.version() else {
        return Ok(true);
    };
    let next = object_store::path::Path::from(format!("_delta_log/{:020}.json", version + 1));
    match table.object_store().head(&next).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(VoidxError::Internal(format!(
            "cannot check {} for new commits: {e}",
            table.table_url()
        ))),
    }
}

pub fn key(e: &Entry) -> Key {
    (e.schema.clone(), e.name.clone())
}

pub fn schema_entry(schema: &str) -> Entry {
    Entry {
        schema: schema.to_string(),
        name: String::new(),
        kind: Kind::Schema,
        location: None,
        definition: None,
        format: None,
        created_at_ms: now_ms(),
        comment: None,
        column_comments: BTreeMap::new(),
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn catalog_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("schema", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("location", DataType::Utf8, true),
        Field::new("definition", DataType::Utf8, true),
        Field::new("format", DataType::Utf8, true),
        Field::new(
            "created_at",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        // Added with COMMENT ON; catalogs written before lack both columns
        // and load with no comments.
        Field::new("comment", DataType::Utf8, true),
        Field::new("column_comments", DataType::Utf8, true),
    ]))
}

fn entries_to_batch<'a>(entries: impl Iterator<Item = &'a Entry>) -> Result<RecordBatch> {
    let entries: Vec<&Entry> = entries.collect();
    let strings = |f: &dyn Fn(&Entry) -> Option<String>| -> ArrayRef {
        Arc::new(entries.iter().map(|e| f(e)).collect::<StringArray>())
    };
    let created: TimestampMillisecondArray = entries
        .iter()
        .map(|e| Some(e.created_at_ms))
        .collect::<TimestampMillisecondArray>()
        .with_timezone("UTC");
    Ok(RecordBatch::try_new(
        catalog_schema(),
        vec![
            strings(&|e| Some(e.schema.clone())),
            strings(&|e| Some(e.name.clone())),
            strings(&|e| Some(e.kind.as_str().to_string())),
            strings(&|e| e.location.clone()),
            strings(&|e| e.definition.clone()),
            strings(&|e| e.format.clone()),
            Arc::new(created),
            strings(&|e| e.comment.clone()),
            strings(&|e| {
                (!e.column_comments.is_empty())
                    .then(|| serde_json::to_string(&e.column_comments).unwrap_or_default())
            }),
        ],
    )?)
}

async fn entries_of(table: &DeltaTable) -> Result<BTreeMap<Key, Entry>> {
    let ctx = SessionContext::new();
    let provider = table.table_provider().await?;
    let batches = ctx.read_table(provider)?.collect().await?;
    let mut entries = BTreeMap::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            let entry = entry_from_row(&batch, row)?;
            entries.insert(key(&entry), entry);
        }
    }
    Ok(entries)
}

fn entry_from_row(batch: &RecordBatch, row: usize) -> Result<Entry> {
    let optional = |name: &str| text_at(batch, name, row);
    // Columns every catalog version has; the later ones are `optional`.
    let text = |name: &str| -> Result<Option<String>> {
        if batch.column_by_name(name).is_none() {
            return Err(VoidxError::Internal(format!(
                "catalog table lacks column {name}"
            )));
        }
        text_at(batch, name, row)
    };
    let required = |name: &str| -> Result<String> {
        text(name)?.ok_or_else(|| VoidxError::Internal(format!("catalog column {name} is NULL")))
    };
    let created = batch
        .column_by_name("created_at")
        // Delta stores microseconds; read back as milliseconds.
        .map(|c| {
            arrow::compute::cast(
                c,
                &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            )
        })
        .transpose()?
        .map(|c| arrow::compute::cast(&c, &DataType::Int64))
        .transpose()?
        .and_then(|c| {
            c.as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .map(|a| a.value(row))
        })
        .unwrap_or_default();
    Ok(Entry {
        schema: required("schema")?,
        name: text("name")?.unwrap_or_default(),
        kind: Kind::parse(&required("kind")?)?,
        location: text("location")?,
        definition: text("definition")?,
        format: text("format")?,
        created_at_ms: created,
        comment: optional("comment")?,
        column_comments: match optional("column_comments")? {
            Some(json) => serde_json::from_str(&json).map_err(|e| {
                VoidxError::Internal(format!("catalog column comments are not JSON: {e}"))
            })?,
            None => BTreeMap::new(),
        },
    })
}

fn text_at(batch: &RecordBatch, name: &str, row: usize) -> Result<Option<String>> {
    let Some(col) = batch.column_by_name(name) else {
        return Ok(None);
    };
    let col = arrow::compute::cast(col, &DataType::Utf8)?;
    let strings = col
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| VoidxError::Internal(format!("catalog column {name} is not text")))?;
    Ok((!strings.is_null(row)).then(|| strings.value(row).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn catalog_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().display().to_string())
            .await
            .unwrap();
        assert_eq!(catalog.schema_names(), vec!["public".to_string()]);
        catalog
            .commit_change(|m| {
                let s = schema_entry("shop");
                m.insert(key(&s), s);
                let v = Entry {
                    schema: "shop".into(),
                    name: "v".into(),
                    kind: Kind::View,
                    location: None,
                    definition: Some("CREATE VIEW shop.v AS SELECT 1".into()),
                    format: None,
                    created_at_ms: 5,
                    comment: Some("one row".into()),
                    column_comments: BTreeMap::from([("x".into(), "the one".into())]),
                };
                m.insert(key(&v), v);
                Ok(())
            })
            .await
            .unwrap();
        drop(catalog);
        let again = Catalog::open(&dir.path().display().to_string())
            .await
            .unwrap();
        assert!(again.schema_exists("shop"));
        let v = again.get("shop", "v").unwrap();
        assert_eq!(v.kind, Kind::View);
        assert_eq!(v.created_at_ms, 5);
        assert_eq!(v.comment.as_deref(), Some("one row"));
        assert_eq!(
            v.column_comments.get("x").map(String::as_str),
            Some("the one")
        );
    }

    /// Two processes over one data directory: both start at once (one
    /// creates the catalog, the other finds it), commit at the same time,
    /// and neither loses the other's change; each sees all of them after a
    /// refresh. Before changes were applied to the latest version, the
    /// second writer overwrote the first's entries with its own copy.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_catalogs_over_one_directory_lose_no_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().display().to_string();
        let (a, b) = tokio::join!(Catalog::open(&path), Catalog::open(&path));
        let (a, b) = (a.unwrap(), b.unwrap());
        let create = |catalog: Arc<Catalog>, side: &'static str| async move {
            for i in 0..10 {
                catalog
                    .commit_change(|m| {
                        let e = schema_entry(&format!("{side}{i}"));
                        m.insert(key(&e), e);
                        Ok(())
                    })
                    .await
                    .unwrap();
            }
        };
        tokio::join!(create(Arc::clone(&a), "a"), create(Arc::clone(&b), "b"));
        let expected: Vec<String> = std::iter::once("public".to_string())
            .chain((0..10).flat_map(|i| [format!("a{i}"), format!("b{i}")]))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let stale = a.refresh().await.unwrap();
        assert!(stale.is_empty(), "nothing a held changed: {stale:?}");
        b.refresh().await.unwrap();
        assert_eq!(a.schema_names(), expected);
        assert_eq!(b.schema_names(), expected);
        // A drop through b shows in a as a stale entry.
        b.commit_change(|m| {
            m.remove(&("a3".to_string(), String::new()));
            Ok(())
        })
        .await
        .unwrap();
        let stale = a.refresh().await.unwrap();
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].schema, "a3");
        assert!(!a.schema_exists("a3"));
        let again = Catalog::open(&path).await.unwrap();
        assert_eq!(again.schema_names().len(), expected.len() - 1);
    }

    #[tokio::test]
    async fn failed_change_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().display().to_string())
            .await
            .unwrap();
        let err = catalog
            .commit_change(|m| {
                m.clear();
                Err(VoidxError::InvalidArgument("no".into()))
            })
            .await;
        assert!(err.is_err());
        assert!(catalog.schema_exists("public"));
    }
}
