//! Tables the server appends to in small commits are compacted as they grow
//! (src/storage/compaction.rs): the prediction log and a user table written
//! by single-row statements, with a low `storage.compact_every` so a handful
//! of commits is enough.

use std::time::Duration;

use futures::TryStreamExt;
use serde_json::json;

use crate::common::{
    DEMO_TARGET, Http, Server, demo_table, exec, query_text, table_dir, train_sql,
};

/// Live files and the operations of every commit of the Delta table at `dir`.
async fn files_and_operations(dir: &std::path::Path) -> (usize, Vec<String>) {
    let url = url::Url::from_directory_path(dir).unwrap();
    let table = deltalake::open_table(url).await.unwrap();
    let files = table.snapshot().unwrap().log_data().num_files();
    let commits: Vec<_> = table.history(None).try_collect().await.unwrap();
    let operations = commits.into_iter().filter_map(|c| c.operation).collect();
    (files, operations)
}

/// `written` of the prediction log, from `/health`.
async fn written(http: &Http) -> u64 {
    let (status, body) = http.get("/health").await;
    assert_eq!(status, 200, "{body}");
    body["prediction_log"]["written"].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prediction_log_is_compacted_and_keeps_every_row() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let env = [
        ("VOIDX_STORAGE__COMPACT_EVERY", "3"),
        ("VOIDX_SERVE__LOG_FLUSH_MS", "5"),
    ];
    let mut server = Server::start_with(&data, &[], &env);
    let setup = format!(
        "{}{}",
        demo_table(300),
        train_sql(
            "revenue_predictor",
            &format!("SELECT x1, x2, {DEMO_TARGET} AS y FROM d"),
            "y",
            r#"{"cv_folds": 2, "n_estimators": 10}"#
        )
    );
    exec(&server.client().await, &setup).await;
    let http = Http::new(&server);
    // 15 waves of 4 requests, each wave committed before the next is sent:
    // at least 15 commits, each adding a file, so without compaction the log
    // would hold 15 or more files.
    let (waves, per_wave) = (15, 4);
    for wave in 0..waves {
        for i in 0..per_wave {
            let body = json!({"customer_id": format!("c{wave}-{i}"),
                              "features": {"x1": wave as f64, "x2": i as f64}});
            let (status, answer) = http.post("/predict", &body.to_string()).await;
            assert_eq!(status, 200, "{answer}");
        }
        let want = ((wave + 1) * per_wave) as u64;
        let mut tries = 0;
        while written(&http).await < want {
            tries += 1;
            assert!(tries < 600, "the log did not write wave {wave}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    server.stop();
    let (files, operations) = files_and_operations(&data.join("voidx").join("predictions")).await;
    let appends = operations.iter().filter(|o| o.as_str() == "WRITE").count();
    let compactions = operations
        .iter()
        .filter(|o| o.as_str() == "OPTIMIZE")
        .count();
    assert!(appends >= waves, "{operations:?}");
    assert!(compactions >= 3, "{operations:?}");
    assert!(
        files <= 3,
        "{files} live files after {appends} appends: {operations:?}"
    );

    // Every row once, readable over SQL after a restart.
    let server = Server::start(&data);
    let rows = query_text(
        &server.client().await,
        "SELECT count(*), count(DISTINCT request_id), count(DISTINCT customer_id) FROM voidx.predictions",
    )
    .await;
    let n = (waves * per_wave).to_string();
    assert_eq!(rows, vec![vec![n.clone(), n.clone(), n]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_tables_written_in_small_commits_are_compacted() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start_with(&data, &[], &[("VOIDX_STORAGE__COMPACT_EVERY", "4")]);
    let client = server.client().await;
    exec(&client, "CREATE TABLE t (id BIGINT NOT NULL, v TEXT)").await;
    // 20 single-row inserts, an update and a delete: 22 commits that each
    // add a file; without compaction the table would hold 20 files.
    for i in 0..20 {
        exec(&client, &format!("INSERT INTO t VALUES ({i}, 'v{i}')")).await;
    }
    exec(&client, "UPDATE t SET v = 'changed' WHERE id = 3").await;
    exec(&client, "DELETE FROM t WHERE id = 4").await;
    let dir = table_dir(&data, "public", "t");
    // Compaction runs inside the statement that tipped the table over; the
    // loop only guards against a slow file system.
    let mut tries = 0;
    let (files, operations) = loop {
        let (files, operations) = files_and_operations(&dir).await;
        if files <= 4 || tries > 300 {
            break (files, operations);
        }
        tries += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let compactions = operations
        .iter()
        .filter(|o| o.as_str() == "OPTIMIZE")
        .count();
    assert!(compactions >= 3, "{operations:?}");
    assert!(files <= 4, "{files} live files: {operations:?}");
    // Every row once, with the update and the delete applied.
    let rows = query_text(
        &client,
        "SELECT count(*), count(DISTINCT id), sum(id), max(CASE WHEN id = 3 THEN v END) FROM t",
    )
    .await;
    let sum: i64 = (0..20).sum::<i64>() - 4;
    assert_eq!(
        rows,
        vec![vec![
            "19".into(),
            "19".into(),
            sum.to_string(),
            "changed".into()
        ]]
    );
}
