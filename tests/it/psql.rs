//! psql's backslash commands show the real objects.

use std::process::Command;

use crate::common::{Server, require_tool};

fn psql(server: &Server, command: &str) -> String {
    let out = Command::new(require_tool("psql"))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &server.pg_port.to_string(),
            "-U",
            "voidx",
            "-X",
            "-c",
            command,
            "voidx",
        ])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("run psql");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success() && !stderr.contains("ERROR"),
        "psql {command} failed:\n{stdout}\n{stderr}\n{}",
        server.log_text()
    );
    stdout
}

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
