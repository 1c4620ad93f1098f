//! Crashing a server at a failpoint: `VOIDXTEST_FAILPOINTS=<point>=crash`
//! makes the process exit (137, as kill -9 would leave it) exactly at that
//! boundary; the test then starts a new server on the same data directory.
//!
//! ```ignore
//! crash_at(&data, &[], "ingest.before_data_commit", "SELECT * FROM ingest(...)").await;
//! let server = Server::start(&data); // recovers
//! ```

use std::path::Path;

use super::Server;

/// Starts a server on `data` armed to crash at `point` (plus `env`), runs
/// `sql`, and asserts that the statement was cut off because the process
/// died at that point.
pub async fn crash_at(data: &Path, env: &[(&str, &str)], point: &str, sql: &str) {
    let armed = format!("{point}=crash");
    let mut vars = env.to_vec();
    vars.push(("VOIDXTEST_FAILPOINTS", armed.as_str()));
    let mut server = Server::start_with(data, &[], &vars);
    let c = server.client().await;
    let outcome = c.simple_query(sql).await;
    let Err(e) = outcome else {
        panic!("{sql} finished although {point} should have crashed the server");
    };
    // A crash sends no error response: the connection just ends.
    assert!(
        e.as_db_error().is_none(),
        "{point}: the server answered instead of crashing: {}",
        super::describe_error(&e)
    );
    let status = server.wait_exit();
    assert_eq!(status, Some(137), "{point}: {}", server.log_text());
    assert!(
        server
            .log_text()
            .contains(&format!("failpoint {point}: crashing")),
        "{point} was not reached: {}",
        server.log_text()
    );
}
