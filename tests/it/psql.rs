//! psql's backslash commands show the real objects.

use std::process::Command;

use crate::common::{Server, psql, require_tool};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backslash_commands_show_real_objects() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let c = server.client().await;
    c.batch_execute(
        "CREATE SCHEMA shop;
         CREATE TABLE shop.orders (order_id BIGINT, amount DOUBLE, status VARCHAR);
         CREATE VIEW shop.big_orders AS SELECT * FROM shop.orders WHERE amount > 100;
         CREATE TABLE public.notes (n INT)",
    )
    .await
    .unwrap();
    let dn = psql(&server, "\\dn");
    assert!(dn.contains("shop") && dn.contains("public"), "{dn}");
    let dt = psql(&server, "\\dt shop.*");
    assert!(dt.contains("orders") && dt.contains("table"), "{dt}");
    assert!(
        !dt.contains("big_orders"),
        "views must not be listed as tables: {dt}"
    );
    let dv = psql(&server, "\\dv shop.*");
    assert!(dv.contains("big_orders") && dv.contains("view"), "{dv}");
    let dt_public = psql(&server, "\\dt");
    assert!(dt_public.contains("notes"), "{dt_public}");
    let d = psql(&server, "\\d shop.orders");
    assert!(
        d.contains("order_id") && d.contains("bigint") && d.contains("amount"),
        "{d}"
    );
}

/// `\df` lists VOIDX's own functions (from the same list the engine
/// registers), `\df+` shows their descriptions, and
/// information_schema.routines documents the scalar and aggregate ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_are_listed_with_their_docs() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let df = psql(&server, "\\df");
    for name in [
        "train",
        "predict",
        "shap_explain",
        "drift_score",
        "ingest",
        "table_history",
    ] {
        assert!(
            df.lines()
                .any(|l| l.split('|').nth(1).map(str::trim) == Some(name)),
            "\\df lacks {name}:\n{df}"
        );
    }
    assert!(
        df.lines()
            .any(|l| l.contains("drift_score") && l.trim_end().ends_with("agg")),
        "drift_score is an aggregate:\n{df}"
    );
    let df_plus = psql(&server, "\\df+ predict");
    assert!(
        df_plus.contains("The prediction of the model's production version"),
        "\\df+ shows the description:\n{df_plus}"
    );
    let c = server.client().await;
    let rows = c
        .query(
            "SELECT routine_name, description FROM information_schema.routines \
             WHERE routine_name IN ('predict', 'drift_score') ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(names, ["drift_score", "predict"]);
    for r in &rows {
        let description: Option<String> = r.get(1);
        assert!(description.is_some_and(|d| d.len() > 20), "{:?}", r);
    }
}

/// Every ```sql block of the README runs in psql against `serve --demo`,
/// in order, without an error: the tour users copy from must work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_tour_runs_in_psql() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(&tmp.path().join("data"), &["--demo"], &[]);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match (&mut current, line.trim()) {
            (None, "```sql") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    assert!(blocks.len() >= 2, "the README has no SQL tour");
    let script = tmp.path().join("tour.sql");
    std::fs::write(&script, blocks.join("\n")).unwrap();
    let out = Command::new(require_tool("psql"))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &server.pg_port.to_string(),
            "-U",
            "voidx",
            "-X",
        ])
        .args(["-v", "ON_ERROR_STOP=1", "-f"])
        .arg(&script)
        .arg("voidx")
        .output()
        .expect("run psql");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("ERROR"),
        "README tour failed:\n{stderr}\n{}",
        server.log_text()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("revenue_predictor"), "{stdout}");
}
