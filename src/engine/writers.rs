//! One writer per table at a time in this process: a DML statement
//! (`INSERT`, `UPDATE`, `DELETE`, `MERGE`) takes its target's lock before it
//! is planned and holds it until it has committed (and compacted, when
//! due). Writers in one process then never race each other for a Delta
//! version: each plans on the snapshot the previous one committed, and
//! commits first time. Without it, eight clients inserting into one table
//! all raced for every version; the losers re-ran with backoff, and on a
//! slow machine one of them could lose often enough to give up
//! (`durability::concurrent_inserts_all_commit` failed once in CI that way).
//! Other processes over the same directory (replicas), `ingest` and the
//! model registry still race, and [`retry`](super::retry) handles that.
//!
//! Writers to different tables never wait for each other; readers never
//! wait at all. Waiting counts against the statement's timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::common::TableReference;
use datafusion::sql::planner::object_name_to_table_reference;
use datafusion::sql::sqlparser::ast::{
    FromTable, ObjectName, Statement as PgStatement, TableFactor, TableObject,
};
use tokio::sync::OwnedMutexGuard;

use super::Stmt;
use super::targets::schema_and_name;

/// The per-table locks of this process, dropped when nobody holds them.
#[derive(Debug, Default)]
pub struct Writers {
    tables: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Writers {
    /// Wait for `table`'s write lock; it is released when the guard drops.
    pub async fn lock(&self, table: &TableReference) -> OwnedMutexGuard<()> {
        let (schema, name) = schema_and_name(table);
        let lock = {
            let mut tables = self.tables.lock().unwrap_or_else(|p| p.into_inner());
            // Locks nobody holds or waits for are forgotten.
            tables.retain(|_, lock| Arc::strong_count(lock) > 1);
            Arc::clone(tables.entry(format!("{schema}.{name}")).or_default())
        };
        lock.lock_owned().await
    }
}

/// The table a DML statement writes into, as written (a bare name is in
/// the default schema, as the planner resolves it).
pub fn dml_target(stmt: &Stmt) -> Option<TableReference> {
    let name = match stmt.as_pg()? {
        PgStatement::Insert(insert) => match &insert.table {
            TableObject::TableName(name) => name,
            _ => return None,
        },
        PgStatement::Update(update) => relation(&update.table.relation)?,
        PgStatement::Delete(delete) => match &delete.from {
            FromTable::WithFromKeyword(tables) | FromTable::WithoutKeyword(tables) => {
                relation(&tables.first()?.relation)?
            }
        },
        PgStatement::Merge(merge) => relation(&merge.table)?,
        _ => return None,
    };
    object_name_to_table_reference(name.clone(), true).ok()
}

fn relation(table: &TableFactor) -> Option<&ObjectName> {
    match table {
        TableFactor::Table { name, .. } => Some(name),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn target(sql: &str) -> Option<String> {
        let stmt = super::super::parse::parse(sql).unwrap().remove(0);
        dml_target(&stmt).map(|t| {
            let (schema, name) = schema_and_name(&t);
            format!("{schema}.{name}")
        })
    }

    #[test]
    fn every_dml_statement_names_its_target() {
        assert_eq!(
            target("INSERT INTO shop.Events VALUES (1)").as_deref(),
            Some("shop.events")
        );
        assert_eq!(
            target("INSERT INTO \"Shop\".t SELECT 1").as_deref(),
            Some("Shop.t")
        );
        assert_eq!(
            target("UPDATE shop.t SET a = 1 WHERE b = 2").as_deref(),
            Some("shop.t")
        );
        assert_eq!(
            target("DELETE FROM t WHERE a = 1").as_deref(),
            Some("public.t")
        );
        assert_eq!(
            target("MERGE INTO shop.t USING s ON t.id = s.id WHEN MATCHED THEN DELETE").as_deref(),
            Some("shop.t")
        );
        assert_eq!(target("SELECT * FROM shop.t"), None);
        assert_eq!(target("CREATE TABLE shop.u AS SELECT 1"), None);
    }

    /// The second writer of a table waits for the first; a writer of
    /// another table does not.
    #[tokio::test]
    async fn writers_of_one_table_take_turns() {
        let writers = Arc::new(Writers::default());
        let t = TableReference::partial("shop", "t");
        let first = writers.lock(&t).await;
        let w = Arc::clone(&writers);
        let t2 = t.clone();
        let second = tokio::spawn(async move { w.lock(&t2).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second.is_finished(), "the second writer did not wait");
        let other = tokio::time::timeout(
            Duration::from_secs(5),
            writers.lock(&TableReference::partial("shop", "u")),
        )
        .await;
        assert!(other.is_ok(), "a writer of another table waited");
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("the second writer never got the lock")
            .unwrap();
    }
}
