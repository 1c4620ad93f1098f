//! Server configuration: one serde tree with safe defaults, layered
//! file → environment (`VOIDX_SECTION__KEY`) → command-line flags, and
//! validated once at start with plain-English errors.
//!
//! ```
//! let cfg = voidx::config::Config::from_toml_str("[pg]\naddr = \"127.0.0.1:6543\"").unwrap();
//! assert_eq!(cfg.pg.addr.port(), 6543);
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Result, VoidxError};

/// Everything the server reads at start.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where Delta tables, the catalog and model artifacts live: a local
    /// directory or an object-store prefix (`s3://bucket/voidx`).
    pub data_dir: String,
    /// The catalog (database) name clients connect to; dbt checks it.
    pub catalog: String,
    pub pg: PgConfig,
    pub http: HttpConfig,
    pub limits: LimitsConfig,
    /// The REST shim.
    pub serve: ServeConfig,
    /// The REST prediction cache.
    pub cache: CacheConfig,
    /// Where sources may be read from (external tables, `ingest`, webhooks).
    pub ingest: IngestConfig,
    /// Drift thresholds, the scheduler of jobs and alerts, retraining.
    pub monitor: MonitorConfig,
    /// Upkeep of the tables the server itself appends to.
    pub storage: StorageConfig,
    /// User name → password (an `admin`), or → `{ password, role }`.
    /// Passwords are turned into salted SCRAM verifiers at start and the
    /// clear text is dropped.
    pub users: BTreeMap<String, UserConfig>,
}

/// What a SQL login may do (docs/security.md).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Default)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// SELECT and the serving functions (`predict`, `shap_explain`, …).
    Reader,
    /// Reader + views and tables in non-system schemas, `train`.
    Analyst,
    /// Everything: sources, `ingest`, COPY, model lifecycle, settings.
    #[default]
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

/// `alice = "password"` (admin, the original form) or
/// `[users.alice] password = "…" role = "analyst"`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum UserConfig {
    Password(String),
    Full {
        password: String,
        #[serde(default)]
        role: Role,
    },
}

impl UserConfig {
    pub fn password(&self) -> &str {
        match self {
            UserConfig::Password(p) | UserConfig::Full { password: p, .. } => p,
        }
    }

    pub fn role(&self) -> Role {
        match self {
            UserConfig::Password(_) => Role::Admin,
            UserConfig::Full { role, .. } => *role,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PgConfig {
    pub addr: SocketAddr,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// 0 is refused: an unbounded server is one bad client away from falling over.
    pub max_connections: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub addr: SocketAddr,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Memory pool shared by all running queries, in MiB. A query that needs
    /// more fails alone with SQLSTATE 53200.
    pub memory_mb: usize,
    /// Default `statement_timeout` in milliseconds (0 = none); a session may
    /// lower or raise it with `SET statement_timeout`.
    pub statement_timeout_ms: u64,
    /// Decoded rows of small managed tables kept in memory, in MiB (0 = off).
    /// Tables whose files total at most an eighth of it are read from
    /// memory, the current version of each (docs/configuration.md).
    pub table_cache_mb: u64,
}

/// What the REST shim does with features a model does not know.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UnknownFeatures {
    Ignore,
    Reject,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// The model `POST /predict` serves.
    pub default_model: String,
    pub unknown_features: UnknownFeatures,
    /// Coverage of `confidence_interval` (conformal).
    pub interval_level: f64,
    /// Rows per `POST /v1/models/{name}/predict` request.
    pub max_batch_rows: usize,
    pub body_limit_kb: usize,
    pub request_timeout_ms: u64,
    /// Requests handled at once; more wait.
    pub max_concurrency: usize,
    /// Bearer tokens that may use every model; with `keys` empty too, no
    /// authentication (loopback only).
    #[serde(deserialize_with = "list_or_csv")]
    pub api_keys: Vec<String>,
    /// Named bearer tokens, each optionally limited to some models:
    /// `[serve.keys.dashboard] key = "…" models = ["revenue_predictor"]`.
    pub keys: BTreeMap<String, ApiKeyConfig>,
    /// Allowed browser origins (`*` = any); empty = no CORS headers.
    #[serde(deserialize_with = "list_or_csv")]
    pub cors_origins: Vec<String>,
    /// Append every REST prediction to `voidx.predictions`.
    pub log_predictions: bool,
    /// Bounded queue of the prediction log; beyond it entries are dropped and counted.
    pub log_queue: usize,
    /// The prediction log commits what it gathered at most this long after
    /// the first entry arrived (the most of a steady stream a crash loses).
    pub log_flush_ms: u64,
    /// … or as soon as this many entries are gathered, whichever comes first.
    pub log_batch_rows: usize,
}

/// Automatic compaction of the tables written in small commits: the
/// prediction log, the append-only system tables and every managed user
/// table (src/storage/compaction.rs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Compact (and checkpoint) a table once it holds this many small files
    /// that can be packed (one per small commit); 0 = never.
    pub compact_every: u64,
    /// Files below this size (MiB) are packed into files of about this size.
    pub compact_target_mb: u64,
    /// A serving process loads what other servers over the same data
    /// directory committed (catalog, model registry, job and alert
    /// definitions) this often (ms); 0 = never (one server per data
    /// directory). docs/scale.md.
    pub refresh_ms: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            compact_every: 100,
            compact_target_mb: 8,
            refresh_ms: 1000,
        }
    }
}

impl StorageConfig {
    pub fn compaction(&self) -> crate::storage::compaction::Compaction {
        crate::storage::compaction::Compaction::new(
            self.compact_every,
            self.compact_target_mb.saturating_mul(1024 * 1024),
        )
    }
}

/// One named REST key (docs/security.md, "REST keys").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// The bearer token.
    pub key: String,
    /// The models this key may use; absent = every model.
    #[serde(default, deserialize_with = "some_list_or_csv")]
    pub models: Option<Vec<String>>,
}

impl ServeConfig {
    /// Is any REST key configured (so the prediction routes need one)?
    pub fn has_keys(&self) -> bool {
        !self.api_keys.is_empty() || !self.keys.is_empty()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    pub ttl_seconds: u64,
    /// 0 disables the cache.
    pub max_entries: u64,
    /// `redis://host:port` to share the cache between replicas.
    pub url: Option<String>,
}

/// The source allowlist. Every URL or path a statement names (external
/// tables, `ingest`, `import_model`, alert webhooks) is checked against it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Hosts that may be fetched. `*` = any host whose addresses are all
    /// public; a named host (`api.shop.example`, `*.shop.example`,
    /// `127.0.0.1`, `10.0.0.0/8`, optionally `:port`) is allowed whatever its
    /// addresses are. Loopback, private and link-local addresses (cloud
    /// metadata services) are refused unless named here.
    #[serde(deserialize_with = "list_or_csv")]
    pub allowed_hosts: Vec<String>,
    /// Local directories and object-store prefixes (`s3://bucket/raw/`)
    /// that may be read. Empty = only the data directory.
    #[serde(deserialize_with = "list_or_csv")]
    pub allowed_dirs: Vec<String>,
    /// Per HTTP request.
    pub http_timeout_ms: u64,
    /// Retries of a request answered 429/5xx or failing to connect.
    pub http_retries: u32,
    /// Upper bound of pages one scan of a REST source fetches.
    pub max_pages: usize,
    /// Directories and object-store prefixes `COPY … TO` may write below.
    /// Empty = COPY TO files is refused. Never inside the data directory.
    #[serde(deserialize_with = "list_or_csv")]
    pub allowed_export_dirs: Vec<String>,
    /// Environment variables `env:NAME` option values may read (globs:
    /// `SHOP_*`). Empty = none. `VOIDX_*` never, whatever the glob.
    #[serde(deserialize_with = "list_or_csv")]
    pub secret_env: Vec<String>,
    /// Upper bound of one REST/HTML response body, in MiB.
    pub max_response_mb: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            allowed_hosts: vec!["*".into()],
            allowed_dirs: Vec::new(),
            http_timeout_ms: 30_000,
            http_retries: 4,
            max_pages: 10_000,
            allowed_export_dirs: Vec::new(),
            secret_env: Vec::new(),
            max_response_mb: 64,
        }
    }
}

/// Monitoring: drift thresholds and the scheduler.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    /// PSI at or above which a feature is `warn`.
    pub psi_warn: f64,
    /// PSI at or above which a feature is `alert`.
    pub psi_alert: f64,
    /// Run scheduled jobs and alert rules in this server.
    pub scheduler: bool,
    /// How often the scheduler looks for due jobs, in milliseconds.
    pub tick_ms: u64,
    /// A retrained challenger replaces the champion only when its holdout
    /// metric is better by at least this fraction (0.01 = 1 %).
    pub retrain_margin: f64,
    /// An alert whose condition stays true reminds after this long
    /// (milliseconds; Alertmanager's `repeat_interval`, 4 h), unless the
    /// rule sets its own `repeat`.
    pub alert_repeat_ms: u64,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            psi_warn: 0.1,
            psi_alert: 0.25,
            scheduler: true,
            tick_ms: 1000,
            retrain_margin: 0.0,
            alert_repeat_ms: 4 * 3_600_000,
        }
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            default_model: "revenue_predictor".into(),
            unknown_features: UnknownFeatures::Ignore,
            interval_level: 0.9,
            max_batch_rows: 1000,
            body_limit_kb: 4096,
            request_timeout_ms: 10_000,
            max_concurrency: 512,
            api_keys: Vec::new(),
            keys: BTreeMap::new(),
            cors_origins: Vec::new(),
            log_predictions: true,
            log_queue: 100_000,
            log_flush_ms: 1000,
            log_batch_rows: 20_000,
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            ttl_seconds: 300,
            max_entries: 100_000,
            url: None,
        }
    }
}

/// Lists may be TOML arrays or, from the environment, comma-separated text.
fn list_or_csv<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCsv {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match ListOrCsv::deserialize(d)? {
        ListOrCsv::List(v) => v,
        ListOrCsv::Csv(s) => s
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect(),
    })
}

/// [`list_or_csv`] for an optional field: present (even empty) is `Some`.
fn some_list_or_csv<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Vec<String>>, D::Error> {
    list_or_csv(d).map(Some)
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: "./voidx-data".to_string(),
            catalog: "voidx".to_string(),
            pg: PgConfig::default(),
            http: HttpConfig::default(),
            limits: LimitsConfig::default(),
            serve: ServeConfig::default(),
            cache: CacheConfig::default(),
            ingest: IngestConfig::default(),
            monitor: MonitorConfig::default(),
            storage: StorageConfig::default(),
            users: BTreeMap::new(),
        }
    }
}

impl Default for PgConfig {
    fn default() -> Self {
        PgConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 5433)),
            tls_cert: None,
            tls_key: None,
            max_connections: 100,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            memory_mb: 4096,
            statement_timeout_ms: 0,
            table_cache_mb: 256,
        }
    }
}

/// Values given on the command line; `None` means "not given".
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data_dir: Option<String>,
    pub pg_addr: Option<SocketAddr>,
    pub http_addr: Option<SocketAddr>,
}

impl Config {
    pub fn from_toml_str(text: &str) -> Result<Config> {
        toml::from_str(text).map_err(|e| VoidxError::Config(format!("{e}")))
    }

    /// Build the configuration in layers: file (if any), then environment,
    /// then flags, and validate the result.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &Overrides,
    ) -> Result<Config> {
        let mut value = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    VoidxError::Config(format!(
                        "cannot read config file {}: {e}. Help: check the path given to --config",
                        path.display()
                    ))
                })?;
                text.parse::<toml::Table>().map_err(|e| {
                    VoidxError::Config(format!(
                        "config file {} is not valid TOML: {e}",
                        path.display()
                    ))
                })?
            }
            None => toml::Table::new(),
        };
        apply_env(&mut value, env)?;
        let mut config: Config = toml::Value::Table(value)
            .try_into()
            .map_err(|e| VoidxError::Config(format!("{e}")))?;
        if let Some(dir) = &flags.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(addr) = flags.pg_addr {
            config.pg.addr = addr;
        }
        if let Some(addr) = flags.http_addr {
            config.http.addr = addr;
        }
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(VoidxError::Config(msg));
        if self.catalog.is_empty()
            || !self
                .catalog
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return bad(format!(
                "catalog name '{}' must be letters, digits or '_' (clients use it as the database name)",
                self.catalog
            ));
        }
        if self.pg.tls_cert.is_some() != self.pg.tls_key.is_some() {
            return bad("TLS needs both pg.tls_cert and pg.tls_key; only one is set".into());
        }
        if self.pg.max_connections == 0 {
            return bad("pg.max_connections must be at least 1".into());
        }
        if self.limits.memory_mb < 64 {
            return bad(format!(
                "limits.memory_mb = {} is too small to run queries; use at least 64",
                self.limits.memory_mb
            ));
        }
        for (user, entry) in &self.users {
            if entry.password().len() < 8 {
                return bad(format!(
                    "the password of user '{user}' is shorter than 8 characters; choose a longer one"
                ));
            }
        }
        if self.users.is_empty() && !self.pg.addr.ip().is_loopback() {
            return bad(format!(
                "pg.addr {} is not a loopback address but no users are configured. \
                 Help: add [users] with a password (or VOIDX_USERS__NAME=secret), or bind to 127.0.0.1",
                self.pg.addr
            ));
        }
        let serve = &self.serve;
        if !(serve.interval_level > 0.0 && serve.interval_level < 1.0) {
            return bad(format!(
                "serve.interval_level must be between 0 and 1 (e.g. 0.9), got {}",
                serve.interval_level
            ));
        }
        if serve.max_batch_rows == 0 || serve.max_concurrency == 0 || serve.body_limit_kb == 0 {
            return bad("serve.max_batch_rows, serve.max_concurrency and serve.body_limit_kb must be at least 1".into());
        }
        if serve.log_flush_ms == 0 || serve.log_batch_rows == 0 {
            return bad(format!(
                "serve.log_flush_ms and serve.log_batch_rows must be at least 1 (got {} and {}). \
                 Help: serve.log_flush_ms = 1000 commits the prediction log once a second; \
                 serve.log_predictions = false turns it off",
                serve.log_flush_ms, serve.log_batch_rows
            ));
        }
        if self.storage.compact_every > 0 && self.storage.compact_target_mb == 0 {
            return bad(
                "storage.compact_target_mb must be at least 1 while storage.compact_every is set. \
                 Help: storage.compact_every = 0 turns compaction off"
                    .into(),
            );
        }
        if !serve.has_keys() && !self.http.addr.ip().is_loopback() {
            return bad(format!(
                "http.addr {} is not a loopback address but no API keys are configured. \
                 Help: set serve.api_keys (or VOIDX_SERVE__API_KEYS=key1,key2) or [serve.keys.NAME], or bind to 127.0.0.1",
                self.http.addr
            ));
        }
        for (name, entry) in &serve.keys {
            if entry.key.len() < 8 {
                return bad(format!(
                    "serve.keys.{name}.key is shorter than 8 characters; choose a longer one"
                ));
            }
            if entry.models.as_ref().is_some_and(|m| m.is_empty()) {
                return bad(format!(
                    "serve.keys.{name}.models is empty, so the key could use no model. \
                     Help: list the models it may use, or remove `models` to allow every model"
                ));
            }
        }
        if serve.api_keys.iter().any(String::is_empty) {
            return bad("serve.api_keys holds an empty key".into());
        }
        if let Some(url) = &self.cache.url
            && !url.starts_with("redis://")
        {
            return bad(format!("cache.url must be redis://host:port, got '{url}'"));
        }
        if !(self.monitor.psi_warn > 0.0 && self.monitor.psi_warn <= self.monitor.psi_alert) {
            return bad(format!(
                "monitor.psi_warn ({}) must be positive and at most monitor.psi_alert ({})",
                self.monitor.psi_warn, self.monitor.psi_alert
            ));
        }
        if self.monitor.tick_ms == 0
            || self.ingest.max_pages == 0
            || self.ingest.max_response_mb == 0
        {
            return bad(
                "monitor.tick_ms, ingest.max_pages and ingest.max_response_mb must be at least 1"
                    .into(),
            );
        }
        Ok(())
    }

    /// Authentication is off only when no user is configured (loopback only, checked in `validate`).
    pub fn auth_enabled(&self) -> bool {
        !self.users.is_empty()
    }

    /// User name → password, for the SCRAM verifiers.
    pub fn passwords(&self) -> BTreeMap<String, String> {
        self.users
            .iter()
            .map(|(name, u)| (name.clone(), u.password().to_string()))
            .collect()
    }

    /// User name → role. Without configured users the one passwordless
    /// loopback user is an admin.
    pub fn roles(&self) -> BTreeMap<String, Role> {
        self.users
            .iter()
            .map(|(name, u)| (name.clone(), u.role()))
            .collect()
    }

    pub fn statement_timeout(&self) -> Option<Duration> {
        (self.limits.statement_timeout_ms > 0)
            .then(|| Duration::from_millis(self.limits.statement_timeout_ms))
    }
}

/// `VOIDX_PG__ADDR=…` sets `[pg] addr`; `VOIDX_DATA_DIR=…` sets `data_dir`.
/// Values are parsed as TOML scalars when they can be (numbers, booleans),
/// otherwise kept as strings.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<()> {
    for (key, raw) in env {
        let Some(path) = key.strip_prefix("VOIDX_") else {
            continue;
        };
        let parts: Vec<String> = path.split("__").map(|p| p.to_ascii_lowercase()).collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(VoidxError::Config(format!(
                "environment variable {key} is malformed; use VOIDX_SECTION__KEY"
            )));
        }
        let mut parts = parts;
        let value = parse_env_value(&raw);
        if parts[0] == "users" && parts.len() >= 2 {
            // User names keep their case: they are data, not config keys.
            parts[1] = path.split("__").nth(1).unwrap_or_default().to_string();
            apply_user_env(table, &key, &parts, value)?;
            continue;
        }
        let mut node = &mut *table;
        for part in &parts[..parts.len() - 1] {
            let entry = node
                .entry(part.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            node = entry.as_table_mut().ok_or_else(|| {
                VoidxError::Config(format!(
                    "environment variable {key}: '{part}' is not a section"
                ))
            })?;
        }
        node.insert(parts[parts.len() - 1].clone(), value);
    }
    Ok(())
}

/// `VOIDX_USERS__ALICE=pw` (password, keeping a role set elsewhere) and
/// `VOIDX_USERS__ALICE__ROLE=analyst` / `__PASSWORD=pw`, in any order.
fn apply_user_env(
    table: &mut toml::Table,
    key: &str,
    parts: &[String],
    value: toml::Value,
) -> Result<()> {
    let users = table
        .entry("users")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .ok_or_else(|| {
            VoidxError::Config(format!(
                "environment variable {key}: 'users' is not a section"
            ))
        })?;
    let name = parts[1].clone();
    let field = match parts.len() {
        2 => "password".to_string(),
        3 if matches!(parts[2].as_str(), "password" | "role") => parts[2].clone(),
        _ => {
            return Err(VoidxError::Config(format!(
                "environment variable {key} is malformed; use VOIDX_USERS__NAME=password, \
                 VOIDX_USERS__NAME__PASSWORD=… or VOIDX_USERS__NAME__ROLE=admin|analyst|reader"
            )));
        }
    };
    let value = match value {
        toml::Value::String(s) => toml::Value::String(s),
        other => toml::Value::String(other.to_string()),
    };
    let entry = users.remove(&name);
    let mut user = match entry {
        Some(toml::Value::Table(t)) => t,
        Some(toml::Value::String(p)) => {
            let mut t = toml::Table::new();
            t.insert("password".into(), toml::Value::String(p));
            t
        }
        _ => toml::Table::new(),
    };
    user.insert(field, value);
    // Only a password: the original `name = "password"` form.
    let stored = if user.len() == 1 {
        match user.remove("password") {
            Some(password) => password,
            None => toml::Value::Table(user),
        }
    } else {
        toml::Value::Table(user)
    };
    users.insert(name, stored);
    Ok(())
}

fn parse_env_value(raw: &str) -> toml::Value {
    if let Ok(n) = raw.parse::<i64>() {
        return toml::Value::Integer(n);
    }
    if let Ok(b) = raw.parse::<bool>() {
        return toml::Value::Boolean(b);
    }
    toml::Value::String(raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_safe() {
        let c = Config::default();
        assert!(c.pg.addr.ip().is_loopback());
        assert!(c.http.addr.ip().is_loopback());
        assert!(!c.auth_enabled());
        c.validate().unwrap();
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("voidx.toml");
        std::fs::write(
            &file,
            "catalog = \"lake\"\n[pg]\naddr = \"127.0.0.1:7000\"\nmax_connections = 5\n",
        )
        .unwrap();
        let flags = Overrides {
            pg_addr: Some("127.0.0.1:7002".parse().unwrap()),
            ..Default::default()
        };
        let c = Config::load(
            Some(&file),
            env(&[
                ("VOIDX_PG__ADDR", "127.0.0.1:7001"),
                ("VOIDX_LIMITS__MEMORY_MB", "128"),
                ("HOME", "/x"),
            ]),
            &flags,
        )
        .unwrap();
        assert_eq!(c.catalog, "lake");
        assert_eq!(c.pg.addr.port(), 7002);
        assert_eq!(c.pg.max_connections, 5);
        assert_eq!(c.limits.memory_mb, 128);
    }

    #[test]
    fn env_users_keep_case() {
        let c = Config::load(
            None,
            env(&[("VOIDX_USERS__Alice", "correct horse")]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            c.users.get("Alice").map(UserConfig::password),
            Some("correct horse")
        );
        assert_eq!(c.users["Alice"].role(), Role::Admin);
    }

    #[test]
    fn users_have_roles_in_both_forms() {
        let c = Config::from_toml_str(
            "[users]\nroot = \"long enough\"\n[users.alice]\npassword = \"long enough\"\nrole = \"analyst\"\n",
        )
        .unwrap();
        assert_eq!(c.users["root"].role(), Role::Admin);
        assert_eq!(c.users["alice"].role(), Role::Analyst);
        let c = Config::load(
            None,
            env(&[
                ("VOIDX_USERS__Bob__ROLE", "reader"),
                ("VOIDX_USERS__Bob", "correct horse"),
                ("VOIDX_USERS__carol__PASSWORD", "correct horse"),
            ]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.users["Bob"].role(), Role::Reader);
        assert_eq!(c.users["Bob"].password(), "correct horse");
        assert_eq!(c.users["carol"].role(), Role::Admin);
        assert!(
            Config::from_toml_str("[users.x]\npassword = \"long enough\"\nrole = \"root\"\n")
                .is_err()
        );
    }

    #[test]
    fn errors_are_plain_english() {
        let e = Config::from_toml_str("[pg]\nadress = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `adress`"), "{e}");
        let e = Config::load(
            None,
            env(&[("VOIDX_PG__ADDR", "0.0.0.0:5433")]),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no users are configured"), "{e}");
        let e = Config::load(
            None,
            env(&[("VOIDX_PG__TLS_CERT", "/c.pem")]),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("both pg.tls_cert and pg.tls_key"), "{e}");
        let e = Config::load(
            None,
            env(&[("VOIDX_USERS__bob", "short")]),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("shorter than 8"), "{e}");
    }

    #[test]
    fn rest_keys_may_be_limited_to_models() {
        let c = Config::from_toml_str(
            "[serve]\napi_keys = [\"any-model-key\"]\n\
             [serve.keys.dashboard]\nkey = \"dashboard-key\"\nmodels = [\"revenue_predictor\"]\n\
             [serve.keys.ops]\nkey = \"ops-key-0001\"\n",
        )
        .unwrap();
        c.validate().unwrap();
        assert!(c.serve.has_keys());
        assert_eq!(
            c.serve.keys["dashboard"].models.as_deref(),
            Some(&["revenue_predictor".to_string()][..])
        );
        assert_eq!(c.serve.keys["ops"].models, None);
        let from_env = Config::load(
            None,
            env(&[
                ("VOIDX_SERVE__KEYS__BI__KEY", "bi-key-0001"),
                ("VOIDX_SERVE__KEYS__BI__MODELS", "a, b"),
            ]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            from_env.serve.keys["bi"].models,
            Some(vec!["a".to_string(), "b".to_string()])
        );
        // A key allowed no model, or a short one, is a mistake said at start.
        let no_models =
            Config::from_toml_str("[serve.keys.x]\nkey = \"long-enough\"\nmodels = []\n").unwrap();
        assert!(no_models.validate().is_err());
        let short = Config::from_toml_str("[serve.keys.x]\nkey = \"k\"\n").unwrap();
        assert!(short.validate().is_err());
        let empty = Config::from_toml_str("[serve]\napi_keys = [\"\"]\n").unwrap();
        assert!(empty.validate().is_err());
    }
}
