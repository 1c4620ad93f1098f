//! Crashes at every commit boundary of registration, deploy, rollback,
//! ab_split, CREATE TABLE AS and the catalog: a server started with
//! `VOIDXTEST_FAILPOINTS=<point>=crash` dies there (exit 137, as kill -9
//! would leave it), a server started on the same data directory without
//! failpoints recovers, and the outcome is exactly once.

use crate::common::{
    DEMO_TARGET, Server, crash_at, demo_table, describe_error, exec, model_fixture, query_text,
};

/// The demo table and a view with its target `y`.
fn setup() -> String {
    format!(
        "{} CREATE VIEW rows AS SELECT id, x1, x2, {DEMO_TARGET} AS y FROM d;",
        demo_table(400)
    )
}

fn train(deploy: &str) -> String {
    format!(
        "SELECT version, stage FROM train('m', 'SELECT * FROM rows', 'y', \
         '{{\"id_columns\": [\"id\"], \"cv_folds\": 2, \"n_estimators\": 8, \"deploy\": \"{deploy}\"}}')"
    )
}

const STAGES: &str = "SELECT version, stage, CAST(traffic_share AS VARCHAR) FROM voidx.models WHERE name = 'm' ORDER BY version";

/// A crash before the voidx.models commit of an import (no run rows, so
/// only the orphans themselves remember version 1): nothing is visible, the
/// number is not reused, and the orphaned auto-promotion event can never
/// promote the `"deploy": "never"` version trained next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_before_the_models_commit_registers_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let dir = model_fixture("xgb_reg.json")
        .parent()
        .unwrap()
        .display()
        .to_string();
    let env = [("VOIDX_INGEST__ALLOWED_DIRS", dir.as_str())];
    {
        let server = Server::start_with(&data, &[], &env);
        exec(&server.client().await, &setup()).await;
    }
    let import = format!(
        "SELECT * FROM import_model('m', '{}', '{{\"format\": \"xgboost\"}}')",
        model_fixture("xgb_reg.json").display()
    );
    crash_at(&data, &env, "register.before_models_commit", &import).await;

    for restart in 0..2 {
        let server = Server::start_with(&data, &[], &env);
        let c = server.client().await;
        for table in [
            "models",
            "model_artifacts",
            "feature_importance",
            "deployments",
        ] {
            let sql = format!(
                "SELECT count(*) FROM voidx.{table} WHERE {} = 'm' AND version = 1",
                if table == "models" { "name" } else { "model" }
            );
            assert_eq!(
                query_text(&c, &sql).await,
                vec![vec!["0"]],
                "restart {restart}: {table}"
            );
        }
        assert_eq!(
            query_text(
                &c,
                "SELECT version, role FROM voidx.runs WHERE model = 'm' AND version = 1"
            )
            .await,
            vec![vec!["1", "abandoned"]],
            "restart {restart}"
        );
        if restart == 0 {
            assert_eq!(
                query_text(&c, &train("never")).await,
                vec![vec!["2", "staging"]]
            );
        }
        assert_eq!(
            query_text(&c, STAGES).await,
            vec![vec!["2", "staging", "0.0"]],
            "restart {restart}"
        );
        let e = c
            .simple_query("SELECT predict('m', 1.0, 2.0)")
            .await
            .unwrap_err();
        assert!(
            describe_error(&e).contains("no production version"),
            "{}",
            describe_error(&e)
        );
    }
}

/// A crash at each boundary inside a training's registration: no version
/// appears, no orphan row is left in any registry table, and the next
/// training takes a number above every one the crashed trainings used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_inside_train_leave_no_version_and_no_orphans() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    {
        let server = Server::start(&data);
        exec(&server.client().await, &setup()).await;
    }
    let points = [
        "train.before_register",
        "register.after_artifact",
        "register.after_importance",
        "register.before_models_commit",
    ];
    for point in points {
        crash_at(&data, &[], point, &train("auto")).await;
    }
    let server = Server::start(&data);
    let c = server.client().await;
    assert_registry_empty(&c).await;
    // Each crashed training kept its number (its trials are in voidx.runs).
    assert_eq!(
        query_text(
            &c,
            "SELECT count(DISTINCT version), max(version) FROM voidx.runs"
        )
        .await,
        vec![vec!["4", "4"]]
    );
    assert_eq!(
        query_text(&c, &train("auto")).await,
        vec![vec!["5", "production"]]
    );
}

/// No row in any registry table: nothing of a crashed registration is visible.
async fn assert_registry_empty(c: &tokio_postgres::Client) {
    for table in [
        "models",
        "model_artifacts",
        "feature_importance",
        "deployments",
    ] {
        assert_eq!(
            query_text(c, &format!("SELECT count(*) FROM voidx.{table}")).await,
            vec![vec!["0"]],
            "{table}"
        );
    }
}

/// The version predict('m', …) serves, found by comparing with pinned versions.
async fn served(c: &tokio_postgres::Client) -> String {
    let rows = query_text(
        c,
        "SELECT CASE WHEN predict('m', x1, x2) = predict('m@1', x1, x2) THEN '1' ELSE '2' END \
         FROM rows WHERE id = 7",
    )
    .await;
    rows[0][0].clone()
}

/// Crashes between the event commit and the stage rewrite of deploy,
/// rollback and ab_split: after a restart the event counts, voidx.models
/// agrees with what is served, and a second restart changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_in_deploy_rollback_and_split_are_old_or_new_never_mixed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    {
        let server = Server::start(&data);
        let c = server.client().await;
        exec(&c, &setup()).await;
        assert_eq!(
            query_text(&c, &train("auto")).await,
            vec![vec!["1", "production"]]
        );
        // differently trained, so its predictions differ from version 1's
        let other = "SELECT version, stage FROM train('m', 'SELECT * FROM rows', 'y', \
                     '{\"id_columns\": [\"id\"], \"cv_folds\": 2, \"n_estimators\": 3, \"deploy\": \"never\"}')";
        assert_eq!(query_text(&c, other).await, vec![vec!["2", "staging"]]);
        assert_eq!(served(&c).await, "1");
    }
    let steps = [
        (
            "deploy.before_models_commit",
            "SELECT * FROM deploy('m', 2)",
            "2",
            vec![vec!["1", "archived", "0.0"], vec!["2", "production", "1.0"]],
        ),
        (
            "rollback.before_models_commit",
            "SELECT * FROM rollback('m')",
            "1",
            vec![vec!["1", "production", "1.0"], vec!["2", "archived", "0.0"]],
        ),
        (
            "ab_split.before_models_commit",
            "SELECT * FROM ab_split('m', '{\"1\": 0.25, \"2\": 0.75}')",
            "1",
            vec![
                vec!["1", "production", "0.25"],
                vec!["2", "archived", "0.75"],
            ],
        ),
    ];
    for (point, sql, production, stages) in steps {
        crash_at(&data, &[], point, sql).await;
        for restart in 0..2 {
            let server = Server::start(&data);
            let c = server.client().await;
            assert_eq!(
                query_text(&c, STAGES).await,
                stages,
                "{point}, restart {restart}"
            );
            assert_eq!(served(&c).await, production, "{point}, restart {restart}");
        }
    }
    let server = Server::start(&data);
    let c = server.client().await;
    // One event per statement, in order.
    assert_eq!(
        query_text(&c, "SELECT action, seq FROM voidx.deployments ORDER BY seq").await,
        vec![
            vec!["deploy", "1"],
            vec!["deploy", "2"],
            vec!["rollback", "3"],
            vec!["split", "4"]
        ]
    );
}

/// An error (not a crash) before the models commit: the statement fails
/// and its rows are taken back at once, before any restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_registration_leaves_nothing_visible() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("data"),
        &[],
        &[(
            "VOIDXTEST_FAILPOINTS",
            "register.before_models_commit=error",
        )],
    );
    let c = server.client().await;
    exec(&c, &setup()).await;
    let e = c.simple_query(&train("auto")).await.unwrap_err();
    assert!(
        describe_error(&e).starts_with("XX000"),
        "{}",
        describe_error(&e)
    );
    assert_registry_empty(&c).await;
    assert_eq!(
        query_text(
            &c,
            "SELECT count(*) FROM voidx.runs WHERE version = 1 AND role = 'abandoned'"
        )
        .await,
        vec![vec!["1"]]
    );
}

/// CREATE TABLE AS crashed between writing its Delta table and the catalog
/// commit: no table, and the same name can be created again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_before_the_ctas_catalog_commit_leaves_no_table() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    drop(Server::start(&data));
    crash_at(
        &data,
        &[],
        "ctas.before_catalog_commit",
        "CREATE TABLE t AS SELECT 1 AS a",
    )
    .await;
    for restart in 0..2 {
        let server = Server::start(&data);
        let c = server.client().await;
        if restart == 0 {
            let e = c.simple_query("SELECT a FROM t").await.unwrap_err();
            assert!(
                describe_error(&e).starts_with("42P01"),
                "{}",
                describe_error(&e)
            );
            assert_eq!(
                query_text(&c, "SELECT count(*) FROM voidx.catalog WHERE name = 't'").await,
                vec![vec!["0"]]
            );
            exec(&c, "CREATE TABLE t AS SELECT 2 AS a").await;
        }
        assert_eq!(query_text(&c, "SELECT a FROM t").await, vec![vec!["2"]]);
    }
}

/// A catalog change crashed before its commit is absent; one crashed right
/// after it is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_around_the_catalog_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    drop(Server::start(&data));
    crash_at(
        &data,
        &[],
        "catalog.before_commit",
        "CREATE VIEW v AS SELECT 1 AS a",
    )
    .await;
    crash_at(
        &data,
        &[],
        "catalog.after_commit",
        "CREATE VIEW w AS SELECT 2 AS a",
    )
    .await;
    let server = Server::start(&data);
    let c = server.client().await;
    let e = c.simple_query("SELECT a FROM v").await.unwrap_err();
    assert!(
        describe_error(&e).starts_with("42P01"),
        "{}",
        describe_error(&e)
    );
    exec(&c, "CREATE VIEW v AS SELECT 1 AS a").await;
    assert_eq!(query_text(&c, "SELECT a FROM v").await, vec![vec!["1"]]);
    assert_eq!(query_text(&c, "SELECT a FROM w").await, vec![vec!["2"]]);
}
