//! The data directory on an object store (`--data-dir az://…`, `s3://…`),
//! against real servers on 127.0.0.1: Azurite for Azure Blob Storage
//! (common/azurite.rs) and moto for S3 (common/moto.rs). On each, the tour's
//! tables, views and models survive a kill -9, python `deltalake` reads
//! every table VOIDX wrote there, DROP removes a table's objects, and two
//! servers appending to one table through the store's conditional create
//! lose nothing and leave no gap in its versions.

use std::path::Path;

use crate::common::azurite::Azurite;
use crate::common::moto::Moto;
use crate::common::{
    DEMO_TARGET, Server, connect, demo_table, describe_error, exec, query_text, run_python,
    train_sql,
};

/// A data directory on an object-store server the test started.
struct Store {
    /// The `--data-dir` URL.
    data: &'static str,
    /// What VOIDX and python deltalake need in their environment to reach
    /// the server.
    env: Vec<(&'static str, String)>,
    /// The storage options python deltalake opens tables there with.
    python_options: Vec<(&'static str, String)>,
}

fn on_azurite(azurite: &Azurite) -> Store {
    Store {
        data: "az://voidx/data",
        env: azurite.env(),
        python_options: vec![("azure_storage_use_emulator", "true".to_string())],
    }
}

fn on_moto(moto: &Moto) -> Store {
    Store {
        data: "s3://voidx/data",
        env: moto.env(),
        // python deltalake takes object_store's variable names as options.
        python_options: moto.env(),
    }
}

impl Store {
    /// A `voidx serve` with its data directory here, logging to `log`.
    fn start(&self, log: &Path) -> Server {
        let mut env = self.env.clone();
        env.push(("RUST_LOG", "warn".to_string()));
        Server::start_at(self.data, log, &refs(&env))
    }

    /// Row counts of the Delta tables at `locations`, read by python
    /// `deltalake` through the same server; "missing" for no table there.
    fn python_counts(&self, locations: &[String]) -> Vec<String> {
        let script = r#"
import os, sys, deltalake
split = sys.argv.index("--")
options = dict(arg.split("=", 1) for arg in sys.argv[1:split])
for location in sys.argv[split + 1:]:
    try:
        table = deltalake.DeltaTable(location, storage_options=options)
    except deltalake.exceptions.TableNotFoundError:
        print("missing", flush=True)
        continue
    print(table.to_pyarrow_table().num_rows, flush=True)
# pyarrow's and deltalake's thread pools can abort at interpreter exit.
os._exit(0)
"#;
        let args: Vec<String> = self
            .python_options
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .chain(std::iter::once("--".to_string()))
            .chain(locations.iter().cloned())
            .collect();
        run_python(script, &args, &self.env)
            .lines()
            .map(String::from)
            .collect()
    }
}

fn refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tour_on_azurite_survives_a_kill_and_python_reads_it() {
    let azurite = Azurite::start("voidx");
    the_tour_survives_a_kill_and_python_reads_it(&on_azurite(&azurite)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tour_on_moto_s3_survives_a_kill_and_python_reads_it() {
    let moto = Moto::start("voidx");
    the_tour_survives_a_kill_and_python_reads_it(&on_moto(&moto)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_appending_to_one_table_on_azurite_lose_nothing() {
    let azurite = Azurite::start("voidx");
    two_servers_appending_to_one_table_lose_nothing(&on_azurite(&azurite)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_appending_to_one_table_on_moto_s3_lose_nothing() {
    let moto = Moto::start("voidx");
    two_servers_appending_to_one_table_lose_nothing(&on_moto(&moto)).await;
}

async fn the_tour_survives_a_kill_and_python_reads_it(store: &Store) {
    let logs = tempfile::tempdir().unwrap();
    let mut server = store.start(&logs.path().join("first.log"));
    let c = server.client().await;
    exec(&c, &demo_table(300)).await;
    exec(
        &c,
        &format!(
            "CREATE SCHEMA features; CREATE VIEW features.v AS SELECT id, x1, x2, {DEMO_TARGET} AS y FROM d;"
        ),
    )
    .await;
    exec(
        &c,
        &train_sql(
            "m",
            "SELECT x1, x2, y FROM features.v",
            "y",
            r#"{"cv_folds": 2, "n_estimators": 10}"#,
        ),
    )
    .await;
    let scores = "SELECT id, round(predict('m', x1, x2), 6) FROM d WHERE id <= 5 ORDER BY id";
    let before = query_text(&c, scores).await;
    assert_eq!(before.len(), 5);
    exec(&c, "CREATE TABLE gone AS SELECT 1 AS y").await;
    let location = |name: &str| format!("SELECT location FROM voidx.tables WHERE name = '{name}'");
    let d = query_text(&c, &location("d")).await[0][0].clone();
    let gone = query_text(&c, &location("gone")).await[0][0].clone();
    let d_prefix = format!("{}/tables/public/d-", store.data);
    assert!(d.starts_with(&d_prefix), "{d}");
    drop(c);
    server.kill9();

    let server = store.start(&logs.path().join("second.log"));
    let c = server.client().await;
    assert_eq!(
        query_text(&c, "SELECT count(*), sum(id) FROM d").await,
        [["300", "45150"]]
    );
    assert_eq!(
        query_text(&c, "SELECT count(*) FROM features.v").await,
        [["300"]]
    );
    assert_eq!(query_text(&c, scores).await, before, "the model's scores");
    assert_eq!(
        query_text(&c, "SELECT version FROM voidx.models WHERE name = 'm'").await,
        [["1"]]
    );
    exec(&c, "DROP TABLE gone").await;

    let counts = store.python_counts(&[
        d,
        format!("{}/voidx/models", store.data),
        format!("{}/voidx/catalog", store.data),
        gone,
    ]);
    assert_eq!(counts[..2], ["300", "1"], "d, voidx.models");
    let entries = query_text(
        &c,
        "SELECT count(*) FROM voidx.tables WHERE schema <> 'voidx'",
    )
    .await;
    assert!(
        counts[2].parse::<u64>().unwrap() >= entries[0][0].parse::<u64>().unwrap(),
        "the catalog holds every relation: {counts:?} vs {entries:?}"
    );
    assert_eq!(counts[3], "missing", "DROP removed the table's objects");
    assert!(
        !server.log_text().contains("panicked"),
        "{}",
        server.log_text()
    );
}

async fn two_servers_appending_to_one_table_lose_nothing(store: &Store) {
    let logs = tempfile::tempdir().unwrap();
    let a = store.start(&logs.path().join("a.log"));
    exec(&a.client().await, "CREATE TABLE t (w INT, i INT)").await;
    // The second server starts after the table exists: a replica learns of
    // new tables only at start until catalog refresh lands (issue 18).
    let b = store.start(&logs.path().join("b.log"));
    let (writers, each) = (4, 15);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let conn = if w % 2 == 0 {
            a.conn_string()
        } else {
            b.conn_string()
        };
        tasks.push(tokio::spawn(async move {
            let c = connect(&conn).await.expect("connect");
            let mut failed = Vec::new();
            for i in 0..each {
                if let Err(e) = c
                    .simple_query(&format!("INSERT INTO t VALUES ({w}, {i})"))
                    .await
                {
                    failed.push(describe_error(&e));
                }
            }
            failed
        }));
    }
    for task in tasks {
        let failed = task.await.unwrap();
        assert!(failed.is_empty(), "appends never fail: {failed:?}");
    }
    let total = writers * each;
    for server in [&a, &b] {
        let c = server.client().await;
        assert_eq!(
            query_text(&c, "SELECT count(*), count(DISTINCT w * 1000 + i) FROM t").await,
            [[total.to_string(), total.to_string()]],
            "every acknowledged row, once"
        );
        let versions: Vec<u64> = query_text(&c, "SELECT version FROM table_history('t')")
            .await
            .into_iter()
            .map(|r| r[0].parse().unwrap())
            .collect();
        let mut sorted = versions.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (0..=total as u64).collect::<Vec<_>>(),
            "one commit per INSERT, no version written twice or skipped"
        );
    }
}
