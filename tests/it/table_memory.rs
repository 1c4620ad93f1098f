//! Small tables are read from memory (`limits.table_cache_mb`), per Delta
//! version: a commit by another process is seen at the next statement, and
//! with the cache on or off every query answers the same.

use crate::common::{Server, exec, query_text, voidx_sql};

const QUERIES: &[&str] = &[
    "SELECT id, amount FROM s.t WHERE id = 2",
    "SELECT count(*), sum(amount) FROM s.t WHERE amount > 1",
    "SELECT id FROM s.t ORDER BY amount DESC LIMIT 2",
    "SELECT note, count(*) FROM s.t GROUP BY note ORDER BY note NULLS FIRST",
];

async fn answers(server: &Server) -> Vec<Vec<Vec<String>>> {
    let c = server.client().await;
    let mut out = Vec::new();
    for q in QUERIES {
        out.push(query_text(&c, q).await);
    }
    out
}

fn setup() -> &'static str {
    "CREATE SCHEMA s;
     CREATE TABLE s.t (id BIGINT NOT NULL, amount DOUBLE, note VARCHAR);
     INSERT INTO s.t VALUES (1, 1.5, 'a'), (2, 2.5, NULL), (3, 3.5, 'a');
     INSERT INTO s.t VALUES (4, 0.5, 'b');"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_commit_is_seen_at_the_next_statement() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data);
    let c = server.client().await;
    exec(&c, setup()).await;
    // Read twice: the second answer comes from memory.
    for _ in 0..2 {
        assert_eq!(
            query_text(&c, "SELECT count(*) FROM s.t").await,
            vec![vec!["4".to_string()]]
        );
    }
    // A second process commits to the same table while the server runs.
    voidx_sql(&data, &[], &["-c", "INSERT INTO s.t VALUES (5, 9.5, 'c')"]);
    assert_eq!(
        query_text(&c, "SELECT count(*), max(id) FROM s.t").await,
        vec![vec!["5".to_string(), "5".to_string()]]
    );
    // And this server's own writes, of every kind.
    exec(
        &c,
        "UPDATE s.t SET amount = 0 WHERE id = 5; DELETE FROM s.t WHERE id = 1",
    )
    .await;
    assert_eq!(
        query_text(&c, "SELECT count(*), sum(amount) FROM s.t").await,
        vec![vec!["4".to_string(), "6.5".to_string()]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_the_same_with_the_cache_off() {
    let (_on_dir, on) = Server::start_temp(&[]);
    let (_off_dir, off) = Server::start_temp(&[("VOIDX_LIMITS__TABLE_CACHE_MB", "0")]);
    for server in [&on, &off] {
        exec(&server.client().await, setup()).await;
    }
    let expected = answers(&off).await;
    assert_eq!(answers(&on).await, expected);
    // Twice: the second time every answer is served from memory.
    assert_eq!(answers(&on).await, expected);
    assert_eq!(expected[0], vec![vec!["2".to_string(), "2.5".to_string()]]);
    // The plan says where the rows come from.
    let plan = query_text(
        &on.client().await,
        "EXPLAIN SELECT id FROM s.t WHERE id = 2",
    )
    .await
    .concat()
    .join("\n");
    assert!(
        plan.contains("partition_sizes"),
        "not read from memory:\n{plan}"
    );
    let plan = query_text(
        &off.client().await,
        "EXPLAIN SELECT id FROM s.t WHERE id = 2",
    )
    .await
    .concat()
    .join("\n");
    assert!(
        !plan.contains("partition_sizes"),
        "read from memory with the cache off:\n{plan}"
    );
}

/// Execute reuses the plan made at Parse only while it reads the latest
/// version of the same tables: a prepared statement sees every commit, a
/// dropped and re-created table, and a rename.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_see_every_commit_and_every_replacement() {
    let (_tmp, server) = Server::start_temp(&[]);
    let c = server.client().await;
    exec(&c, setup()).await;
    let by_id = c
        .prepare("SELECT amount FROM s.t WHERE id = $1")
        .await
        .unwrap();
    let count = c.prepare("SELECT count(*) FROM s.t").await.unwrap();
    let amount = |rows: Vec<tokio_postgres::Row>| -> Vec<Option<f64>> {
        rows.iter().map(|r| r.get(0)).collect()
    };
    let counted = |rows: Vec<tokio_postgres::Row>| -> i64 { rows[0].get(0) };
    assert_eq!(
        amount(c.query(&by_id, &[&2i64]).await.unwrap()),
        [Some(2.5)]
    );
    assert_eq!(
        amount(c.query(&by_id, &[&3i64]).await.unwrap()),
        [Some(3.5)]
    );
    // A write from another connection.
    let other = server.client().await;
    exec(&other, "UPDATE s.t SET amount = 7 WHERE id = 2").await;
    assert_eq!(
        amount(c.query(&by_id, &[&2i64]).await.unwrap()),
        [Some(7.0)]
    );
    exec(&other, "INSERT INTO s.t VALUES (9, 9.0, 'z')").await;
    assert_eq!(counted(c.query(&count, &[]).await.unwrap()), 5);
    // The name now means another table.
    exec(
        &other,
        "DROP TABLE s.t; CREATE TABLE s.t (id BIGINT NOT NULL, amount DOUBLE, note VARCHAR);
         INSERT INTO s.t VALUES (2, 20.0, 'new');",
    )
    .await;
    assert_eq!(
        amount(c.query(&by_id, &[&2i64]).await.unwrap()),
        [Some(20.0)]
    );
    assert_eq!(counted(c.query(&count, &[]).await.unwrap()), 1);
    exec(
        &other,
        "ALTER TABLE s.t RENAME TO old; CREATE TABLE s.t AS SELECT * FROM s.old WHERE false",
    )
    .await;
    assert_eq!(counted(c.query(&count, &[]).await.unwrap()), 0);
    assert!(c.query(&by_id, &[&2i64]).await.unwrap().is_empty());
}

/// Parse of a text seen before takes the plan it made then only while the
/// tables are the same ones at the same versions: the same text (prepared
/// again at every `query`, as psycopg's unnamed statements are) sees a
/// commit, a table replaced by one with other columns, and a dropped table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_parsed_again_sees_every_change() {
    let (_tmp, server) = Server::start_temp(&[]);
    let c = server.client().await;
    exec(&c, setup()).await;
    let sql = "SELECT * FROM s.t WHERE id = $1";
    for _ in 0..3 {
        let rows = c.query(sql, &[&2i64]).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].len(), 3);
    }
    let other = server.client().await;
    exec(
        &other,
        "DROP TABLE s.t; CREATE TABLE s.t (id BIGINT NOT NULL, label VARCHAR);
         INSERT INTO s.t VALUES (2, 'two');",
    )
    .await;
    let rows = c.query(sql, &[&2i64]).await.unwrap();
    assert_eq!(rows[0].len(), 2, "the plan of the dropped table was reused");
    assert_eq!(rows[0].get::<_, String>(1), "two");
    exec(&other, "UPDATE s.t SET label = 'deux' WHERE id = 2").await;
    let rows = c.query(sql, &[&2i64]).await.unwrap();
    assert_eq!(rows[0].get::<_, String>(1), "deux");
    exec(&other, "DROP TABLE s.t").await;
    let err = c.query(sql, &[&2i64]).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE),
        "{err:?}"
    );
}

/// `SELECT … INTO t` is a CREATE TABLE in either protocol: its Parse-time
/// plan is empty, so it must never be taken for a reusable query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_into_creates_the_table_in_both_protocols() {
    let (_tmp, server) = Server::start_temp(&[]);
    let c = server.client().await;
    exec(&c, setup()).await;
    // Simple protocol.
    exec(
        &c,
        "SELECT id, amount INTO s.simple_copy FROM s.t WHERE id < 3",
    )
    .await;
    // Extended protocol (tokio-postgres prepares every statement).
    c.execute(
        "SELECT id, amount INTO s.extended_copy FROM s.t WHERE id < 3",
        &[],
    )
    .await
    .unwrap();
    for table in ["s.simple_copy", "s.extended_copy"] {
        assert_eq!(
            query_text(&c, &format!("SELECT count(*) FROM {table}")).await,
            vec![vec!["2".to_string()]],
            "{table}"
        );
    }
}

/// A view is inlined into the plan when it is planned, so a plan over a
/// view shows only the view's table, which stays current when the view is
/// replaced: the cache must see the view itself change, in both protocols.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_over_a_view_sees_the_view_replaced_and_dropped() {
    let (_tmp, server) = Server::start_temp(&[]);
    let c = server.client().await;
    exec(&c, setup()).await;
    exec(&c, "CREATE VIEW s.v AS SELECT id FROM s.t").await;
    let extended = "SELECT * FROM s.v WHERE id = $1";
    let simple = "SELECT * FROM s.v WHERE id = 2";
    for _ in 0..2 {
        assert_eq!(c.query(extended, &[&2i64]).await.unwrap()[0].len(), 1);
        assert_eq!(query_text(&c, simple).await, vec![vec!["2".to_string()]]);
    }
    let other = server.client().await;
    exec(
        &other,
        "CREATE OR REPLACE VIEW s.v AS SELECT id, amount FROM s.t",
    )
    .await;
    assert_eq!(
        c.query(extended, &[&2i64]).await.unwrap()[0].len(),
        2,
        "the plan of the old view was reused"
    );
    assert_eq!(
        query_text(&c, simple).await,
        vec![vec!["2".to_string(), "2.5".to_string()]]
    );
    exec(&other, "DROP VIEW s.v").await;
    let err = c.query(extended, &[&2i64]).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE),
        "{err:?}"
    );
}

/// Execute runs the optimised plan kept for its text (the logical
/// optimiser runs once per text and table versions), so that plan must
/// take each execution's values, never fold this moment's `now()` into a
/// constant, and not be taken when the name now means a view over the very
/// same table version (a rename keeps the table's location and version).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_optimised_plan_takes_each_execution_s_values_and_moment() {
    let (_tmp, server) = Server::start_temp(&[]);
    let c = server.client().await;
    exec(&c, setup()).await;
    let by_id = "SELECT id, note FROM s.t WHERE id = $1";
    for round in 0..2 {
        for id in 1i64..=4 {
            let rows = c.query(by_id, &[&id]).await.unwrap();
            assert_eq!(rows.len(), 1, "round {round}, id {id}");
            assert_eq!(rows[0].get::<_, i64>(0), id, "round {round}");
        }
        assert!(c.query(by_id, &[&None::<i64>]).await.unwrap().is_empty());
        assert!(c.query(by_id, &[&99i64]).await.unwrap().is_empty());
    }
    // Stable functions are folded by the optimiser: never kept.
    let moment = |sql: &'static str| {
        let c = &c;
        async move {
            let mut seen = Vec::new();
            for _ in 0..3 {
                seen.push(query_text(c, sql).await[0][0].clone());
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            seen
        }
    };
    for sql in [
        "SELECT now()::text",
        "SELECT max(now())::text FROM s.t WHERE id > 0",
    ] {
        let seen = moment(sql).await;
        assert!(
            seen[0] != seen[1] && seen[1] != seen[2],
            "{sql} answered one moment: {seen:?}"
        );
    }
    let extended = "SELECT now()::text FROM s.t WHERE id = $1";
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(
            c.query_one(extended, &[&1i64])
                .await
                .unwrap()
                .get::<_, String>(0),
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(seen[0] != seen[1] && seen[1] != seen[2], "{seen:?}");
    // The same table version behind a view of the old name.
    let count = "SELECT count(*) FROM s.t";
    for _ in 0..2 {
        assert_eq!(query_text(&c, count).await, vec![vec!["4".to_string()]]);
    }
    exec(
        &c,
        "ALTER TABLE s.t RENAME TO t2; CREATE VIEW s.t AS SELECT * FROM s.t2 WHERE id > 2",
    )
    .await;
    for _ in 0..2 {
        assert_eq!(
            query_text(&c, count).await,
            vec![vec!["2".to_string()]],
            "the optimised plan of the renamed table was reused"
        );
    }
}
