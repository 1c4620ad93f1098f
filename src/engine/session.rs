//! One connection's state: who is asking (their [`Role`]) and the settings
//! they changed with `SET`. Settings are the session's own — they never
//! touch the shared `SessionContext` — and only those that change how *this*
//! session's queries are planned or shown may be set; server-wide limits
//! (memory, spill, temp files, `datafusion.runtime.*`) are the operator's.
//!
//! ```
//! use voidx::engine::Session;
//! let mut s = Session::admin();
//! s.set("datafusion.execution.time_zone", "+02:00").unwrap();
//! assert_eq!(s.set("datafusion.runtime.memory_limit", "1000G").unwrap_err().sqlstate(), "42501");
//! assert_eq!(s.set("no_such_setting", "1").unwrap_err().sqlstate(), "42704");
//! ```

use std::collections::BTreeMap;

use datafusion::config::ConfigOptions;

pub use crate::config::Role;
use crate::error::{Result, VoidxError};

/// A connection's role and settings.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub role: Role,
    settings: BTreeMap<String, String>,
    /// The connection's temporary tables; `None` outside a connection
    /// (`voidx sql`, REST, the scheduler), where CREATE TEMP TABLE is refused.
    pub temp: Option<std::sync::Arc<super::temp::TempTables>>,
}

/// PostgreSQL settings clients send (psql, JDBC, dbt, BI tools) that the
/// pgwire front end models on the connection itself: datafusion-postgres'
/// `SetShowHook` keeps them in the client's metadata and answers `SHOW`.
/// The one list — the front end asks [`answered_per_connection`].
const PER_CONNECTION_SETTINGS: &[&str] = &[
    "statement_timeout",
    "datestyle",
    "bytea_output",
    "intervalstyle",
    "application_name",
    "extra_float_digits",
    "search_path",
];

/// PostgreSQL settings clients send that VOIDX accepts and ignores.
const IGNORED_SETTINGS: &[&str] = &[
    "client_encoding",
    "client_min_messages",
    "standard_conforming_strings",
    "lock_timeout",
    "idle_in_transaction_session_timeout",
    "idle_session_timeout",
    "default_transaction_isolation",
    "default_transaction_read_only",
    "transaction_isolation",
    "jit",
    "names",
];

/// Whether `SET name` is a PostgreSQL setting the pgwire front end keeps on the
/// connection (`statement_timeout`, `DateStyle`, `search_path`, …) instead of
/// sending it to the engine (case-insensitive).
///
/// ```
/// use voidx::engine::answered_per_connection;
/// assert!(answered_per_connection("DateStyle"));
/// assert!(!answered_per_connection("client_encoding"));
/// assert!(!answered_per_connection("datafusion.execution.time_zone"));
/// ```
pub fn answered_per_connection(name: &str) -> bool {
    let key = name.trim().to_ascii_lowercase();
    PER_CONNECTION_SETTINGS.contains(&key.as_str())
}

/// DataFusion settings a session may change: they alter how its own queries
/// are parsed, planned or displayed, not what the server may use.
const SESSION_PREFIXES: &[&str] = &[
    "datafusion.optimizer.",
    "datafusion.explain.",
    "datafusion.format.",
    "datafusion.sql_parser.",
];
const SESSION_KEYS: &[&str] = &[
    "datafusion.execution.time_zone",
    "datafusion.execution.collect_statistics",
    "datafusion.execution.parquet.pushdown_filters",
    "datafusion.execution.parquet.reorder_filters",
    "datafusion.execution.parquet.pruning",
    "datafusion.execution.parquet.enable_page_index",
    "datafusion.execution.parquet.bloom_filter_on_read",
    "datafusion.execution.skip_partial_aggregation_probe_ratio_threshold",
];

/// What `SET name` means.
#[derive(Debug, PartialEq, Eq)]
pub enum Setting {
    /// A PostgreSQL setting: accepted, answered by the front end or ignored.
    Postgres,
    /// A DataFusion setting this session may change.
    Session(String),
    /// Server-wide by nature: only the operator's configuration sets it.
    ServerWide(String),
    Unknown,
}

/// Classify a setting name (case-insensitive; `timezone` is DataFusion's time zone).
pub fn classify(name: &str) -> Setting {
    let key = name.trim().to_ascii_lowercase();
    if matches!(key.as_str(), "timezone" | "time.zone" | "time zone") {
        return Setting::Session("datafusion.execution.time_zone".into());
    }
    if PER_CONNECTION_SETTINGS.contains(&key.as_str()) || IGNORED_SETTINGS.contains(&key.as_str()) {
        return Setting::Postgres;
    }
    if key.starts_with("datafusion.runtime.") {
        return Setting::ServerWide(key);
    }
    if !key.starts_with("datafusion.") {
        return Setting::Unknown;
    }
    let known = ConfigOptions::new().entries().iter().any(|e| e.key == key);
    if !known {
        return Setting::Unknown;
    }
    let per_session =
        SESSION_KEYS.contains(&key.as_str()) || SESSION_PREFIXES.iter().any(|p| key.starts_with(p));
    if per_session {
        Setting::Session(key)
    } else {
        Setting::ServerWide(key)
    }
}

fn unknown(name: &str) -> VoidxError {
    VoidxError::UndefinedObject(format!(
        "unrecognized configuration parameter \"{name}\". Help: docs/security.md lists the \
         settings a session may change (datafusion.optimizer.*, datafusion.execution.time_zone, …)"
    ))
}

fn server_wide(key: &str) -> VoidxError {
    VoidxError::NotAllowed(format!(
        "\"{key}\" is a server-wide setting (memory, disk, spill, files or parallelism shared by \
         every session) and cannot be changed with SET. Help: the operator sets limits in the \
         configuration ([limits] memory_mb, statement_timeout_ms); see docs/security.md"
    ))
}

impl Session {
    pub fn new(user: &str, role: Role) -> Session {
        Session {
            user: user.to_string(),
            role,
            settings: BTreeMap::new(),
            temp: None,
        }
    }

    /// The operator's own session (`voidx sql`, the scheduler, REST).
    pub fn admin() -> Session {
        Session::new("voidx", Role::Admin)
    }

    /// The settings this session changed, by DataFusion key.
    pub fn settings(&self) -> &BTreeMap<String, String> {
        &self.settings
    }

    /// `SET name = value` for this session only.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        match classify(name) {
            Setting::Postgres => Ok(()),
            Setting::Session(key) => {
                // Validate the value the way DataFusion will read it.
                ConfigOptions::new().set(&key, value).map_err(|e| {
                    VoidxError::InvalidArgument(format!(
                        "invalid value for parameter \"{key}\": {value}. ({e}) Help: SHOW {key} shows the current value"
                    ))
                })?;
                self.settings.insert(key, value.to_string());
                Ok(())
            }
            Setting::ServerWide(key) => Err(server_wide(&key)),
            Setting::Unknown => Err(unknown(name)),
        }
    }

    /// `RESET name` (`None` = `RESET ALL`).
    pub fn reset(&mut self, name: Option<&str>) -> Result<()> {
        let Some(name) = name else {
            self.settings.clear();
            return Ok(());
        };
        match classify(name) {
            Setting::Postgres => Ok(()),
            Setting::Session(key) => {
                self.settings.remove(&key);
                Ok(())
            }
            Setting::ServerWide(key) => Err(server_wide(&key)),
            Setting::Unknown => Err(unknown(name)),
        }
    }

    /// The value `SHOW name` answers: this session's, else the server's.
    pub fn show(&self, name: &str, shared: &ConfigOptions) -> Result<(String, String)> {
        let key = match classify(name) {
            Setting::Session(key) | Setting::ServerWide(key) => key,
            Setting::Postgres | Setting::Unknown => return Err(unknown(name)),
        };
        if let Some(v) = self.settings.get(&key) {
            return Ok((key, v.clone()));
        }
        let value = shared
            .entries()
            .into_iter()
            .find(|e| e.key == key)
            .and_then(|e| e.value)
            .unwrap_or_default();
        Ok((key, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_classified() {
        assert_eq!(
            classify("DataFusion.Execution.Time_Zone"),
            Setting::Session("datafusion.execution.time_zone".into())
        );
        assert_eq!(
            classify("TimeZone"),
            Setting::Session("datafusion.execution.time_zone".into())
        );
        for key in [
            "datafusion.runtime.memory_limit",
            "datafusion.runtime.temp_directory",
            "datafusion.runtime.max_temp_directory_size",
            "datafusion.execution.target_partitions",
            "datafusion.execution.batch_size",
            "datafusion.execution.spill_compression",
            "datafusion.execution.sort_spill_reservation_bytes",
            "datafusion.catalog.location",
        ] {
            assert!(matches!(classify(key), Setting::ServerWide(_)), "{key}");
        }
        assert_eq!(classify("datafusion.optimizer.no_such"), Setting::Unknown);
        assert_eq!(classify("work_mem"), Setting::Unknown);
        assert_eq!(classify("client_encoding"), Setting::Postgres);
        // Every name the front end answers is also one the engine accepts.
        for name in PER_CONNECTION_SETTINGS {
            assert!(answered_per_connection(name), "{name}");
            assert_eq!(classify(name), Setting::Postgres, "{name}");
        }
        assert!(answered_per_connection("Statement_Timeout"));
        assert!(!answered_per_connection("names"));
    }

    #[test]
    fn set_reset_show_are_per_session() {
        let shared = ConfigOptions::new();
        let mut a = Session::admin();
        let b = Session::admin();
        a.set("datafusion.optimizer.max_passes", "5").unwrap();
        assert_eq!(
            a.show("datafusion.optimizer.max_passes", &shared)
                .unwrap()
                .1,
            "5"
        );
        assert_eq!(
            b.show("datafusion.optimizer.max_passes", &shared)
                .unwrap()
                .1,
            "3"
        );
        let e = a
            .set("datafusion.optimizer.max_passes", "many")
            .unwrap_err();
        assert_eq!(e.sqlstate(), "22023");
        a.reset(Some("datafusion.optimizer.max_passes")).unwrap();
        assert!(a.settings().is_empty());
        assert_eq!(
            a.reset(Some("datafusion.runtime.memory_limit"))
                .unwrap_err()
                .sqlstate(),
            "42501"
        );
        assert_eq!(a.reset(Some("nope")).unwrap_err().sqlstate(), "42704");
    }
}
