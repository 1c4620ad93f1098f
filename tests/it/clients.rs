//! psycopg 3 (server-side binding), psycopg2 and SQLAlchemy + pandas
//! against a real server: the clients analysts use.

use std::process::Command;

use crate::common::{Server, require_python};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_clients() {
    let python = require_python();
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/clients.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(server.pg_port.to_string())
            .output()
            .map(|o| (o, server))
    })
    .await
    .unwrap()
    .expect("run python");
    let (out, server) = out;
    assert!(
        out.status.success(),
        "clients.py failed:\n{}\n{}\n--- server log ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
}
