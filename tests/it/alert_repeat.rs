//! Alert repeat, as Alertmanager's `repeat_interval`: a condition that stays
//! true fires once and then only reminds after `repeat`, across a restart;
//! a condition that cleared fires at once when it comes back.

use std::time::Duration;

use crate::common::{Server, describe_error, exec, query_text, wait_for};

const FAST: [(&str, &str); 1] = [("VOIDX_MONITOR__TICK_MS", "100")];

/// Lets at least `n` evaluations of a rule that runs every second pass (a
/// quiet evaluation leaves no record to wait on, so give it n + 1 slots).
async fn let_evaluations_pass(n: u64) {
    tokio::time::sleep(Duration::from_millis(1000 * (n + 1))).await;
}

const EVENTS: &str =
    "SELECT status, COALESCE(detail, '') FROM voidx.alerts WHERE name = 'stuck' ORDER BY ts";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_condition_that_stays_true_fires_once_until_repeat() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start_with(&data, &[], &FAST);
    let c = server.client().await;
    exec(
        &c,
        "CREATE TABLE flags (bad BIGINT); INSERT INTO flags VALUES (1)",
    )
    .await;
    // No `repeat`: the server default (4 h) applies.
    exec(
        &c,
        "SELECT * FROM create_alert('stuck', 'SELECT bad FROM flags', '{\"every\": \"1s\"}')",
    )
    .await;
    wait_for(&c, EVENTS, 10, |r| !r.is_empty()).await;
    // The rows change while the condition stays true: still no new firing.
    exec(&c, "INSERT INTO flags VALUES (2)").await;
    let_evaluations_pass(3).await;
    assert_eq!(query_text(&c, EVENTS).await, vec![vec!["fired", ""]]);

    // The state comes back from voidx.alerts: a restart does not re-fire.
    server.kill9();
    let server = Server::start_with(&data, &[], &FAST);
    let c = server.client().await;
    let_evaluations_pass(3).await;
    assert_eq!(query_text(&c, EVENTS).await, vec![vec!["fired", ""]]);

    // resolved → firing fires at once (the next evaluation).
    exec(&c, "DELETE FROM flags").await;
    wait_for(&c, EVENTS, 10, |r| r.len() == 2).await;
    exec(&c, "INSERT INTO flags VALUES (3)").await;
    let events = wait_for(&c, EVENTS, 10, |r| r.len() == 3).await;
    assert_eq!(
        events,
        vec![vec!["fired", ""], vec!["resolved", ""], vec!["fired", ""]]
    );
}

/// With a short `repeat` of its own, a rule reminds — marked as such — and
/// the server default does not apply to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_reminds_after_its_own_repeat() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(&tmp.path().join("data"), &[], &FAST);
    let c = server.client().await;
    exec(
        &c,
        "SELECT * FROM create_alert('stuck', 'SELECT 1 AS x', '{\"every\": \"1s\", \"repeat\": \"2s\"}')",
    )
    .await;
    let events = wait_for(&c, EVENTS, 20, |r| r.len() >= 2).await;
    assert_eq!(events[0], vec!["fired", ""]);
    assert_eq!(events[1][0], "fired");
    assert!(
        events[1][1].starts_with("reminder: still firing after 2s"),
        "{events:?}"
    );
    let e = c
        .simple_query("SELECT * FROM create_alert('bad', 'SELECT 1', '{\"every\": \"1s\", \"repeat\": \"0s\"}')")
        .await
        .unwrap_err();
    assert!(
        describe_error(&e).starts_with("22023"),
        "{}",
        describe_error(&e)
    );
}
