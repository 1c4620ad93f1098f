//! The real psql client against a test server, and HTTP Basic credentials
//! for the routes that take logins.
//!
//! ```ignore
//! let out = psql(&server, "\\d+ shop.orders");          // stdout; panics on an error
//! let (stdout, stderr, ok) = psql_run(&server, &[], "SELECT 1"); // for notices and errors
//! ```

use std::process::Command;

use super::{Server, require_tool};

/// `psql -X [extra] -c sql` as user voidx: stdout, stderr (notices and
/// errors) and whether it succeeded.
pub fn psql_run(server: &Server, extra: &[&str], sql: &str) -> (String, String, bool) {
    let out = Command::new(require_tool("psql"))
        .args(["-h", "127.0.0.1", "-p", &server.pg_port.to_string()])
        .args(["-U", "voidx", "-X"])
        .args(extra)
        .args(["-c", sql, "voidx"])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("run psql");
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
        out.status.success(),
    )
}

/// psql's output of `command` (aligned, as users see it); panics with the
/// server log when psql reports an error.
pub fn psql(server: &Server, command: &str) -> String {
    let (stdout, stderr, ok) = psql_run(server, &[], command);
    assert!(
        ok && !stderr.contains("ERROR"),
        "psql {command} failed:\n{stdout}\n{stderr}\n{}",
        server.log_text()
    );
    stdout
}

/// `Authorization: Basic …` for `user`'s login.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}
