//! Batch predictions under the Redis cache: one `MGET` per batch request,
//! answers identical with and without Redis, and a batch large enough for
//! the blocking pool (more than 256 rows, with SHAP).

use serde_json::{Value, json};

use crate::common::redis::RedisServer;
use crate::common::{DEMO_TARGET, Http, Server, demo_table, exec, train_sql};

/// The demo table and model `b` on it.
fn setup() -> String {
    format!(
        "{}{}",
        demo_table(1000),
        train_sql(
            "b",
            &format!("SELECT x1, x2, {DEMO_TARGET} AS y FROM d"),
            "y",
            r#"{"cv_folds": 2, "n_estimators": 20}"#
        )
    )
}

const ROWS: usize = 300;

fn batch() -> String {
    let rows: Vec<Value> = (0..ROWS)
        .map(|i| {
            json!({"customer_id": format!("c{i}"),
                   "features": {"x1": i as f64 / 7.0, "x2": (i % 13) as f64},
                   "include_explanations": true})
        })
        .collect();
    Value::Array(rows).to_string()
}

async fn predict(server: &Server) -> Vec<Value> {
    let (status, body) = Http::new(server)
        .post("/v1/models/b/predict", &batch())
        .await;
    assert_eq!(status, 200, "{body}");
    body.as_array().expect("an array answer").clone()
}

/// The answer without what legitimately differs between calls.
fn answers(rows: &[Value]) -> Vec<Value> {
    rows.iter()
        .map(|r| {
            let mut r = r.clone();
            let o = r.as_object_mut().unwrap();
            o.remove("latency_ms");
            o.remove("cached");
            r
        })
        .collect()
}

fn cached(rows: &[Value]) -> Vec<bool> {
    rows.iter()
        .map(|r| r["cached"].as_bool().unwrap())
        .collect()
}

/// `calls` of a command from Redis' own INFO commandstats.
fn calls(con: &mut redis::Connection, command: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_mget_per_batch_and_the_same_answers_as_without_redis() {
    let redis = RedisServer::start();
    let url = redis.url.clone();
    let mut con = redis.connection();

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Without Redis (and without the in-process cache): the reference.
    let reference = {
        let server = Server::start_with(&data, &[], &[("VOIDX_CACHE__MAX_ENTRIES", "0")]);
        exec(&server.client().await, &setup()).await;
        answers(&predict(&server).await)
    };
    assert_eq!(reference.len(), ROWS);

    let env = [("VOIDX_CACHE__URL", url.as_str())];
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query(&mut con)
        .unwrap();
    {
        let server = Server::start_with(&data, &[], &env);
        let cold = predict(&server).await;
        assert_eq!(answers(&cold), reference, "cold, through Redis");
        assert!(cached(&cold).iter().all(|c| !c));
        // The SETs are written in the background: wait for all of them.
        for _ in 0..100 {
            let n: u64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
            if n as usize == ROWS {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(calls(&mut con, "mget"), 1);
        assert_eq!(calls(&mut con, "get"), 0);
        assert_eq!(calls(&mut con, "set"), ROWS as u64);
    }
    // A fresh process has an empty memory cache: every row comes from Redis.
    let server = Server::start_with(&data, &[], &env);
    let warm = predict(&server).await;
    assert_eq!(answers(&warm), reference, "warm, from Redis");
    assert!(cached(&warm).iter().all(|c| *c));
    assert_eq!(calls(&mut con, "mget"), 2);
    assert_eq!(calls(&mut con, "get"), 0);
}
