//! Long work reports progress while it runs: PostgreSQL NOTICE messages
//! over pgwire (simple and extended protocol), `NOTICE:` lines from
//! `voidx sql`.

use std::sync::{Arc, Mutex};

use futures::StreamExt;

use crate::common::fixtures::{DEMO_TARGET, Mock, demo_table, train_sql};
use crate::common::{Server, describe_error, psql_run, voidx_sql};

fn notices(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("NOTICE:  "))
        .collect()
}

const SEARCH: &str = r#"{"cv_folds": 3, "n_estimators": 10, "seed": 7,
    "search": {"trials": 3, "space": {"max_depth": [2, 6]}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn train_ingest_and_optimize_report_progress_to_psql() {
    let tmp = tempfile::tempdir().unwrap();
    let api = Mock::json(
        "127.0.0.1",
        r#"[{"id": 1, "email": "a@x"}, {"id": 2, "email": null}, {"id": 3, "email": "c@x"}]"#,
    );
    let server = Server::start_with(
        &tmp.path().join("data"),
        &[],
        &[("VOIDX_INGEST__ALLOWED_HOSTS", "127.0.0.0/8")],
    );
    let c = server.client().await;
    c.batch_execute(&format!(
        "{} CREATE VIEW dv AS SELECT *, {DEMO_TARGET} AS y FROM d;
         CREATE TABLE people (id BIGINT, email VARCHAR NOT NULL);
         CREATE EXTERNAL TABLE people_api STORED AS REST LOCATION 'http://127.0.0.1:{}/people';",
        demo_table(300),
        api.port
    ))
    .await
    .unwrap_or_else(|e| panic!("setup: {}", describe_error(&e)));

    let (out, err, ok) = psql_run(
        &server,
        &[],
        &train_sql("m", "SELECT * FROM dv", "y", &SEARCH.replace('\n', " ")),
    );
    assert!(ok, "{out}\n{err}\n{}", server.log_text());
    let notes = notices(&err);
    assert_eq!(
        notes.first().copied(),
        Some("training m version 1 on 300 rows"),
        "{err}"
    );
    // Every fold of every trial, then that trial's summary, in order.
    for trial in 1..=3 {
        let folds: Vec<usize> = notes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.starts_with(&format!("trial {trial}/3, fold ")))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(folds.len(), 3, "trial {trial}'s folds: {err}");
        let summary = notes
            .iter()
            .position(|n| n.starts_with(&format!("trial {trial}/3: rmse ")))
            .unwrap_or_else(|| panic!("trial {trial}'s summary: {err}"));
        assert!(folds.iter().all(|&f| f < summary), "{err}");
        assert!(notes[summary].contains("(best "), "{err}");
    }
    assert!(
        notes
            .last()
            .is_some_and(|n| n.starts_with("trained m version 1: cv rmse ")),
        "{err}"
    );
    assert!(out.contains("(1 row)"), "{out}");

    let (out, err, ok) = psql_run(
        &server,
        &[],
        "SELECT status, rows_written, rows_quarantined FROM ingest('public.people', 'SELECT * FROM people_api')",
    );
    assert!(ok, "{out}\n{err}");
    assert_eq!(
        notices(&err),
        [
            "read 3 rows for public.people",
            "checked 3 rows: 2 pass, 1 to public.people__quarantine",
            "committed 2 rows to public.people (version 2)",
        ],
        "{err}"
    );

    let (out, err, ok) = psql_run(&server, &[], "SELECT * FROM optimize('public.d')");
    assert!(ok, "{out}\n{err}");
    let notes = notices(&err);
    assert_eq!(notes.len(), 2, "{err}");
    assert!(
        notes[0].starts_with("optimizing public.d at version "),
        "{err}"
    );
    assert!(notes[1].starts_with("optimized public.d: "), "{err}");

    // A plain query says nothing.
    let (_, err, ok) = psql_run(&server, &[], "SELECT count(*) FROM d");
    assert!(ok && notices(&err).is_empty(), "{err}");
}

/// Notes go out while the statement runs, not with its answer: a train
/// that fails after its last fold has still shown every fold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_are_sent_before_the_answer_even_when_it_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("data"),
        &[],
        &[("VOIDXTEST_FAILPOINTS", "train.before_register=error")],
    );
    let c = server.client().await;
    c.batch_execute(&format!(
        "{} CREATE VIEW dv AS SELECT *, {DEMO_TARGET} AS y FROM d;",
        demo_table(200)
    ))
    .await
    .unwrap();
    let (_, err, ok) = psql_run(
        &server,
        &[],
        &train_sql(
            "m",
            "SELECT * FROM dv",
            "y",
            r#"{"cv_folds": 4, "n_estimators": 5}"#,
        ),
    );
    assert!(!ok && err.contains("ERROR"), "{err}");
    let folds = notices(&err)
        .iter()
        .filter(|n| n.starts_with("fold ") && n.contains("/4: rmse "))
        .count();
    assert_eq!(folds, 4, "{err}");
    // The session goes on, and the next statement's notes are its own.
    let rows = c.query("SELECT 1", &[]).await.unwrap();
    assert_eq!(rows.len(), 1);
}

/// The extended protocol (what drivers use) carries the same notices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_protocol_clients_receive_notices() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let (client, mut connection) =
        tokio_postgres::connect(&server.conn_string(), tokio_postgres::NoTls)
            .await
            .unwrap();
    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&received);
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notice(n) = message {
                sink.lock().unwrap().push(n.message().to_string());
            }
        }
    });
    client
        .batch_execute(&format!(
            "{} CREATE VIEW dv AS SELECT *, {DEMO_TARGET} AS y FROM d;",
            demo_table(200)
        ))
        .await
        .unwrap();
    let sql = train_sql(
        "m",
        "SELECT * FROM dv",
        "y",
        r#"{"cv_folds": 3, "n_estimators": 5}"#,
    );
    // `query` prepares (Parse/Describe) and then Binds and Executes.
    let rows = client
        .query(sql.trim_end_matches(';'), &[])
        .await
        .unwrap_or_else(|e| panic!("{}", describe_error(&e)));
    assert_eq!(rows.len(), 1);
    let got = received.lock().unwrap().clone();
    assert_eq!(
        got.first().map(String::as_str),
        Some("training m version 1 on 200 rows"),
        "{got:?}"
    );
    assert_eq!(
        got.iter().filter(|n| n.starts_with("fold ")).count(),
        3,
        "{got:?}"
    );
}

/// `voidx sql` (no server) prints the same notes on stderr.
#[test]
fn voidx_sql_prints_progress() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = voidx_sql(
        &data,
        &[],
        &[
            "-c",
            &format!(
                "{} {}",
                demo_table(150),
                train_sql(
                    "m",
                    &format!("SELECT *, {DEMO_TARGET} AS y FROM d"),
                    "y",
                    r#"{"cv_folds": 3, "n_estimators": 5}"#
                )
            ),
        ],
    );
    assert!(
        out.contains("NOTICE:  training m version 1 on 150 rows"),
        "{out}"
    );
    assert_eq!(out.matches("NOTICE:  fold ").count(), 3, "{out}");
}
