//! `STORED AS POSTGRES`: a table or query of a PostgreSQL database as an
//! external table, streamed with `COPY (…) TO STDOUT (FORMAT binary)`.
//!
//! ```sql
//! CREATE EXTERNAL TABLE shop STORED AS POSTGRES
//!   LOCATION 'postgres://reader@db.internal:5432/shop'
//!   OPTIONS ('table' 'public.orders', 'password' 'env:SHOP_PG_PASSWORD');
//! SELECT id, amount FROM shop WHERE amount > 100 LIMIT 10;
//! -- PostgreSQL receives:
//! -- COPY (SELECT "id", "amount" FROM "public"."orders" WHERE ("amount" > 100) LIMIT 10) TO STDOUT (FORMAT binary)
//! ```
//!
//! * The host is checked with the ingest allowlist by name and again by
//!   every address it resolves to; the connection goes to a checked address.
//! * The schema comes from PostgreSQL (`prepare` of `SELECT * … LIMIT 0`),
//!   mapped by [`columns`]; declared DDL columns select and retype.
//! * Projection, the filters [`pushdown`] translates exactly, and `LIMIT`
//!   are sent to PostgreSQL; rows arrive as binary COPY and are decoded by
//!   [`copy`] into batches of `datafusion.execution.batch_size` rows while
//!   they stream, so no table is ever held in memory whole.
//! * One connection per scan; TLS as libpq's `sslmode` says (option or
//!   `?sslmode=` in the URL; default `prefer`), see [`tls`].

mod columns;
mod copy;
// For the fuzz targets (src/props/parsers.rs).
#[cfg(test)]
pub(crate) use copy::parse_decimal;
mod pushdown;
mod tls;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProviderFactory};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{CreateExternalTable, Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use futures::StreamExt;
use url::Url;

use super::secrets::resolve_secret;
use crate::error::{Result, VoidxError};
use crate::policy::Policy;
use columns::SourceColumn;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `STORED AS POSTGRES` factory.
#[derive(Debug)]
pub struct PostgresFactory {
    policy: Arc<Policy>,
}

impl PostgresFactory {
    pub fn new(policy: &Arc<Policy>) -> PostgresFactory {
        PostgresFactory {
            policy: Arc::clone(policy),
        }
    }
}

#[async_trait]
impl TableProviderFactory for PostgresFactory {
    async fn create(
        &self,
        _state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> DfResult<Arc<dyn TableProvider>> {
        let source = Source::parse(cmd, &self.policy)?;
        let client = source.connect().await?;
        let remote = columns::describe(&client, &source).await?;
        let columns = columns::select_declared(remote, cmd.schema.as_arrow(), &source)?;
        Ok(Arc::new(PostgresTable {
            source: Arc::new(source),
            columns: Arc::new(columns),
        }))
    }
}

/// What to read: a table or a query.
#[derive(Debug, Clone)]
enum Relation {
    Table {
        schema: Option<String>,
        name: String,
    },
    Query(String),
}

/// A password: in the DDL (and so in the catalog) or named by `env:VAR`.
#[derive(Clone)]
enum Password {
    None,
    Clear(String),
    Env(String),
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Password::None => f.write_str("None"),
            Password::Clear(_) => f.write_str("Clear(***)"),
            Password::Env(var) => write!(f, "Env({var})"),
        }
    }
}

/// A parsed `STORED AS POSTGRES` definition.
#[derive(Debug, Clone)]
struct Source {
    /// The location without its password, for messages.
    shown: String,
    host: String,
    port: u16,
    user: String,
    dbname: String,
    password: Password,
    relation: Relation,
    /// `sslmode` and the checked `sslrootcert`.
    ssl: tls::SslMode,
    root_cert: Option<std::path::PathBuf>,
    policy: Arc<Policy>,
}

fn option<'a>(cmd: &'a CreateExternalTable, key: &str) -> Option<&'a String> {
    // Keys without a dot arrive as `format.<key>` (DataFusion's convention).
    cmd.options
        .get(key)
        .or_else(|| cmd.options.get(&format!("format.{key}")))
}

fn pg_error(source: &Source, what: &str, e: tokio_postgres::Error) -> VoidxError {
    let detail = match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    };
    let tls = ["TLS", "SSL", "certificate", "encryption"]
        .iter()
        .any(|w| detail.contains(w));
    let help = if tls {
        "check the 'sslmode' option (disable, prefer, require, verify-ca, verify-full) and \
         'sslrootcert' (the CA that signed the server's certificate)"
    } else {
        "check the LOCATION, the 'table'/'query' option and that the user may read it"
    };
    VoidxError::InvalidArgument(format!(
        "PostgreSQL source {}: {what}: {detail}. Help: {help}",
        source.shown
    ))
}

impl Source {
    fn parse(cmd: &CreateExternalTable, policy: &Arc<Policy>) -> Result<Source> {
        let location = cmd.locations.join(",");
        let usage = "Help: LOCATION 'postgres://user@host:5432/database' OPTIONS ('table' 'schema.table') \
                     or OPTIONS ('query' 'SELECT …'), password as OPTIONS ('password' 'env:VAR')";
        let url = Url::parse(&location).map_err(|_| {
            VoidxError::InvalidArgument(format!(
                "STORED AS POSTGRES needs a postgres:// URL as LOCATION. {usage}"
            ))
        })?;
        if url.scheme() != "postgres" && url.scheme() != "postgresql" {
            return Err(VoidxError::InvalidArgument(format!(
                "STORED AS POSTGRES needs a postgres:// URL, not {}://. {usage}",
                url.scheme()
            )));
        }
        let mut shown_url = url.clone();
        let _ = shown_url.set_password(None);
        let shown = shown_url.to_string();
        policy.check_url(&url)?;
        let host = url
            .host_str()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string())
            .ok_or_else(|| VoidxError::InvalidArgument(format!("{shown} has no host. {usage}")))?;
        let user = percent_decode(url.username());
        if user.is_empty() {
            return Err(VoidxError::InvalidArgument(format!(
                "{shown} names no user. {usage}"
            )));
        }
        let dbname = percent_decode(url.path().trim_start_matches('/'));
        let dbname = if dbname.is_empty() {
            user.clone()
        } else {
            dbname
        };
        let password = match (option(cmd, "password"), url.password()) {
            (Some(p), _) => match p.strip_prefix("env:") {
                Some(var) => Password::Env(var.to_string()),
                None => Password::Clear(p.clone()),
            },
            (None, Some(p)) => Password::Clear(percent_decode(p)),
            (None, None) => Password::None,
        };
        let relation = match (option(cmd, "table"), option(cmd, "query")) {
            (Some(_), Some(_)) => {
                return Err(VoidxError::InvalidArgument(format!(
                    "give either 'table' or 'query', not both. {usage}"
                )));
            }
            (Some(t), None) => parse_table(t)?,
            (None, Some(q)) => Relation::Query(q.trim().trim_end_matches(';').to_string()),
            (None, None) => {
                return Err(VoidxError::InvalidArgument(format!(
                    "STORED AS POSTGRES needs the option 'table' or 'query'. {usage}"
                )));
            }
        };
        let from_url = |key: &str| {
            url.query_pairs()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.into_owned())
        };
        if let Some((key, _)) = url
            .query_pairs()
            .find(|(k, _)| k != "sslmode" && k != "sslrootcert")
        {
            return Err(VoidxError::InvalidArgument(format!(
                "{shown}: the URL parameter '{key}' is not supported. Help: the URL may carry sslmode and sslrootcert; other settings are OPTIONS"
            )));
        }
        let ssl = tls::SslMode::parse(
            option(cmd, "sslmode")
                .cloned()
                .or_else(|| from_url("sslmode"))
                .as_deref(),
        )?;
        // The CA file is read by the server: it must lie in an allowed directory.
        let root_cert = match option(cmd, "sslrootcert")
            .cloned()
            .or_else(|| from_url("sslrootcert"))
        {
            Some(path) => Some(policy.check_path(std::path::Path::new(&path))?),
            None => None,
        };
        let known = ["password", "table", "query", "sslmode", "sslrootcert"];
        if let Some(unknown) = cmd.options.keys().find(|k| {
            let k = k.strip_prefix("format.").unwrap_or(k);
            !known.contains(&k)
        }) {
            return Err(VoidxError::InvalidArgument(format!(
                "unknown option '{unknown}' for STORED AS POSTGRES. Help: the options are 'table', 'query', 'password', 'sslmode' and 'sslrootcert'"
            )));
        }
        Ok(Source {
            shown,
            host,
            port: url.port().unwrap_or(5432),
            user,
            dbname,
            password,
            relation,
            ssl,
            root_cert,
            policy: Arc::clone(policy),
        })
    }

    /// `"schema"."table"` or `(query) AS voidx_source`.
    fn relation_sql(&self) -> String {
        match &self.relation {
            Relation::Table {
                schema: Some(s),
                name,
            } => format!("{}.{}", quote_ident(s), quote_ident(name)),
            Relation::Table { schema: None, name } => quote_ident(name),
            Relation::Query(q) => format!("({q}) AS voidx_source"),
        }
    }

    /// Connect to a checked address of the host. The password is resolved
    /// here (at every scan), so `env:VAR` secrets never reach the catalog.
    async fn connect(&self) -> Result<tokio_postgres::Client> {
        let addrs: Vec<std::net::SocketAddr> =
            tokio::net::lookup_host((self.host.as_str(), self.port))
                .await
                .map_err(|e| {
                    VoidxError::InvalidArgument(format!(
                        "PostgreSQL source {}: cannot resolve '{}': {e}. Help: check the host name",
                        self.shown, self.host
                    ))
                })?
                .collect();
        self.policy.check_resolved(&self.host, &addrs)?;
        let addr = addrs.first().ok_or_else(|| {
            VoidxError::InvalidArgument(format!(
                "PostgreSQL source {}: '{}' has no address",
                self.shown, self.host
            ))
        })?;
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.host)
            .hostaddr(addr.ip())
            .port(self.port)
            .user(&self.user)
            .dbname(&self.dbname)
            .application_name("voidx")
            .connect_timeout(CONNECT_TIMEOUT);
        match &self.password {
            Password::None => {}
            Password::Clear(p) => {
                config.password(p.as_str());
            }
            Password::Env(var) => {
                let value = resolve_secret(&format!("env:{var}"), "password")?;
                config.password(value.as_str());
            }
        }
        config.ssl_mode(self.ssl.negotiation());
        let ended = |e: tokio_postgres::Error| {
            tracing::debug!("PostgreSQL source connection ended: {e}");
        };
        let client = match tls::client_config(self.ssl, self.root_cert.as_deref())? {
            None => {
                let (client, connection) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| pg_error(self, "cannot connect", e))?;
                tokio::spawn(async move { connection.await.map_err(ended) });
                client
            }
            Some(tls) => {
                let (client, connection) = config
                    .connect(tls)
                    .await
                    .map_err(|e| pg_error(self, "cannot connect", e))?;
                tokio::spawn(async move { connection.await.map_err(ended) });
                client
            }
        };
        // Literals are rendered with doubled quotes only; make sure
        // backslashes mean themselves whatever the server's default is.
        client
            .batch_execute("SET standard_conforming_strings = on; SET DateStyle = 'ISO'")
            .await
            .map_err(|e| pg_error(self, "cannot set up the session", e))?;
        Ok(client)
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `schema.table`, `table`, or quoted parts (`"My Schema"."Orders"`).
fn parse_table(text: &str) -> Result<Relation> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                current.push('"');
            }
            '"' => {
                quoted = !quoted;
                was_quoted = true;
            }
            '.' if !quoted => {
                parts.push(finish_part(&mut current, &mut was_quoted));
            }
            c => current.push(c),
        }
    }
    parts.push(finish_part(&mut current, &mut was_quoted));
    let bad = || {
        VoidxError::InvalidArgument(format!(
            "'{text}' is not a table name. Help: OPTIONS ('table' 'schema.table'); quote parts with \"\" when they need it"
        ))
    };
    if quoted || parts.iter().any(|p| p.is_empty()) {
        return Err(bad());
    }
    match parts.len() {
        1 => Ok(Relation::Table {
            schema: None,
            name: parts.remove(0),
        }),
        2 => {
            let name = parts.remove(1);
            Ok(Relation::Table {
                schema: Some(parts.remove(0)),
                name,
            })
        }
        _ => Err(bad()),
    }
}

fn finish_part(current: &mut String, was_quoted: &mut bool) -> String {
    let part = std::mem::take(current);
    let part = if *was_quoted {
        part
    } else {
        // PostgreSQL folds unquoted names to lower case.
        part.trim().to_lowercase()
    };
    *was_quoted = false;
    part
}

/// `"name"` with embedded quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A PostgreSQL table or query as a DataFusion table.
#[derive(Debug)]
pub struct PostgresTable {
    source: Arc<Source>,
    columns: Arc<Vec<SourceColumn>>,
}

#[async_trait]
impl TableProvider for PostgresTable {
    fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| c.field.clone())
                .collect::<Vec<_>>(),
        ))
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        let by_name = self.by_name();
        Ok(filters
            .iter()
            .map(|f| match pushdown::to_sql(f, &by_name) {
                Some(_) => TableProviderFilterPushDown::Exact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let indices: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.columns.len()).collect(),
        };
        let chosen: Vec<SourceColumn> = indices
            .iter()
            .filter_map(|i| self.columns.get(*i).cloned())
            .collect();
        let by_name = self.by_name();
        let predicates: Vec<String> = filters
            .iter()
            .filter_map(|f| pushdown::to_sql(f, &by_name))
            .collect();
        let select = chosen
            .iter()
            .map(|c| c.select_expr())
            .collect::<Vec<_>>()
            .join(", ");
        let mut sql = format!("SELECT {select} FROM {}", self.source.relation_sql());
        if !predicates.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&predicates.join(" AND "));
        }
        if let Some(n) = limit {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        let schema = Arc::new(Schema::new(
            chosen.iter().map(|c| c.field.clone()).collect::<Vec<_>>(),
        ));
        let partition = CopyPartition {
            source: Arc::clone(&self.source),
            columns: Arc::new(chosen),
            schema: Arc::clone(&schema),
            sql,
            batch_size: state.config().batch_size(),
        };
        Ok(Arc::new(StreamingTableExec::try_new(
            schema,
            vec![Arc::new(partition)],
            None,
            Vec::new(),
            false,
            None,
        )?))
    }
}

impl PostgresTable {
    fn by_name(&self) -> HashMap<&str, &SourceColumn> {
        self.columns
            .iter()
            .map(|c| (c.field.name().as_str(), c))
            .collect()
    }
}

/// One scan: `COPY (<sql>) TO STDOUT (FORMAT binary)` on a new connection.
struct CopyPartition {
    source: Arc<Source>,
    columns: Arc<Vec<SourceColumn>>,
    schema: SchemaRef,
    sql: String,
    batch_size: usize,
}

impl fmt::Debug for CopyPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresCopy: {}", self.sql)
    }
}

impl PartitionStream for CopyPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let source = Arc::clone(&self.source);
        let columns = Arc::clone(&self.columns);
        let schema = Arc::clone(&self.schema);
        let sql = self.sql.clone();
        let batch_size = self.batch_size.max(1);
        let opened = async move {
            let client = source.connect().await?;
            let copy_sql = format!("COPY ({sql}) TO STDOUT (FORMAT binary)");
            tracing::debug!("PostgreSQL source {}: {copy_sql}", source.shown);
            let stream = client
                .copy_out(copy_sql.as_str())
                .await
                .map_err(|e| pg_error(&source, "COPY failed", e))?;
            Ok::<_, VoidxError>(copy::batches(
                client, stream, columns, schema, batch_size, source,
            ))
        };
        let stream = futures::stream::once(opened)
            .map(|r| match r {
                Ok(s) => s.boxed(),
                Err(e) => {
                    futures::stream::once(async move { Err(DataFusionError::from(e)) }).boxed()
                }
            })
            .flatten();
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_parse_like_postgres() {
        let t = |s: &str| match parse_table(s).unwrap() {
            Relation::Table { schema, name } => (schema, name),
            Relation::Query(_) => unreachable!(),
        };
        assert_eq!(t("public.Orders"), (Some("public".into()), "orders".into()));
        assert_eq!(t("orders"), (None, "orders".into()));
        assert_eq!(
            t("\"My Schema\".\"Or\"\"ders\""),
            (Some("My Schema".into()), "Or\"ders".into())
        );
        assert!(parse_table("a.b.c").is_err());
        assert!(parse_table("a.").is_err());
        assert!(parse_table("\"open").is_err());
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("p%40ss"), "p@ss");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
