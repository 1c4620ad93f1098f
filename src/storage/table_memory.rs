//! Small Delta tables kept decoded in memory, one entry per table version.
//!
//! A point lookup on a 10,000-row dimension table spent most of its time not
//! in finding the row but in getting to it: replaying the Delta log's file
//! actions, parsing their statistics, opening the Parquet file and decoding
//! its one data page — the same work for every statement. A Delta version
//! never changes once committed, so the decoded rows of a version are a
//! perfect cache entry: a commit makes a new version (and a new key), the
//! old entry simply ages out. Nothing can be stale, across processes too,
//! because the version a scan reads comes from the table's log.
//!
//! Only tables whose data files total at most an eighth of the budget are
//! held, so one large table cannot evict every small one; the budget
//! (`limits.table_cache_mb`, 0 = off) is outside the query memory pool and
//! bounded by weight (decoded bytes), least recently used first out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;

/// Decoded rows by (table URL, Delta version).
#[derive(Debug)]
pub struct TableMemory {
    cache: moka::sync::Cache<(String, i64), Arc<Vec<RecordBatch>>>,
    /// The version last put per table: a table written often keeps one
    /// entry, not one per version until the budget is full.
    latest: Mutex<HashMap<String, i64>>,
    max_table_bytes: i64,
}

const KIB: u64 = 1024;

impl TableMemory {
    /// A cache of `budget_bytes` of decoded rows (0 disables it).
    pub fn new(budget_bytes: u64) -> TableMemory {
        let cache = moka::sync::Cache::builder()
            // Weights in KiB so a u32 weigher covers tables up to 4 TiB.
            .max_capacity(budget_bytes / KIB)
            .weigher(|_, batches: &Arc<Vec<RecordBatch>>| {
                let bytes: usize = batches.iter().map(|b| b.get_array_memory_size()).sum();
                u32::try_from(bytes as u64 / KIB + 1).unwrap_or(u32::MAX)
            })
            .build();
        TableMemory {
            cache,
            latest: Mutex::new(HashMap::new()),
            max_table_bytes: i64::try_from(budget_bytes / 8).unwrap_or(i64::MAX),
        }
    }

    /// Is a table with `file_bytes` of Parquet small enough to hold?
    pub fn holds(&self, file_bytes: i64) -> bool {
        self.max_table_bytes > 0 && file_bytes <= self.max_table_bytes
    }

    pub fn get(&self, table: &str, version: i64) -> Option<Arc<Vec<RecordBatch>>> {
        self.cache.get(&(table.to_string(), version))
    }

    pub fn put(&self, table: &str, version: i64, batches: Arc<Vec<RecordBatch>>) {
        self.cache.insert((table.to_string(), version), batches);
        let previous = self
            .latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(table.to_string(), version);
        if let Some(previous) = previous.filter(|p| *p != version) {
            self.cache.invalidate(&(table.to_string(), previous));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(rows: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from_iter_values(0..rows))],
        )
        .unwrap()
    }

    #[test]
    fn versions_are_separate_entries() {
        let memory = TableMemory::new(64 * 1024 * 1024);
        memory.put("file:///t/", 1, Arc::new(vec![batch(3)]));
        assert_eq!(memory.get("file:///t/", 1).unwrap()[0].num_rows(), 3);
        assert!(memory.get("file:///t/", 2).is_none());
        assert!(memory.get("file:///u/", 1).is_none());
        // A newer version replaces the older one.
        memory.put("file:///t/", 2, Arc::new(vec![batch(4)]));
        assert!(memory.get("file:///t/", 1).is_none());
        assert_eq!(memory.get("file:///t/", 2).unwrap()[0].num_rows(), 4);
    }

    #[test]
    fn only_small_tables_and_never_when_off() {
        let memory = TableMemory::new(8 * 1024 * 1024);
        assert!(memory.holds(1024 * 1024));
        assert!(!memory.holds(1024 * 1024 + 1));
        assert!(!TableMemory::new(0).holds(0));
    }
}
