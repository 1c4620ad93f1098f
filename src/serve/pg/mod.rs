//! The PostgreSQL wire front end: accept loop, TLS, connection limit, and
//! per-connection handlers (authentication state is per connection).
//!
//! Unlike datafusion-postgres' `serve`, a TLS set-up failure stops the
//! server instead of silently falling back to plaintext.

mod auth;
pub mod errors;
mod fields;
mod handler;
mod notices;
mod savepoint;
mod text_values;

use std::fs::File;
use std::io::BufReader;
use std::sync::Arc;

use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::{ClientInfo, ConnectionManager, ErrorHandler, PgWireServerHandlers};
use pgwire::error::PgWireError;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

pub use auth::DEFAULT_USER;
use auth::{Startup, Users};
use handler::QueryHandler;

use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Result, VoidxError};

pub struct PgServer {
    listener: TcpListener,
    query: Arc<QueryHandler>,
    users: Arc<Users>,
    connections: Arc<ConnectionManager>,
    cancel: Arc<DefaultCancelHandler>,
    limit: Arc<Semaphore>,
    max_connections: usize,
    tls: Option<TlsAcceptor>,
    catalog: String,
}

struct ConnectionHandlers {
    query: Arc<QueryHandler>,
    startup: Arc<Startup>,
    cancel: Arc<DefaultCancelHandler>,
}

struct Errors;

impl ErrorHandler for Errors {
    fn on_error<C: ClientInfo>(&self, _client: &C, error: &mut PgWireError) {
        errors::normalize(error);
        tracing::debug!("sending error: {error}");
    }
}

impl PgWireServerHandlers for ConnectionHandlers {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        Arc::clone(&self.query)
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        Arc::clone(&self.query)
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        Arc::clone(&self.startup)
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(Errors)
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        Arc::clone(&self.cancel)
    }
}

fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> Result<TlsAcceptor> {
    let fail = |what: String| {
        VoidxError::Config(format!(
            "TLS cannot be set up: {what}. The server refuses to run without the TLS it was configured for"
        ))
    };
    let certs = rustls_pemfile::certs(&mut BufReader::new(
        File::open(cert).map_err(|e| fail(format!("{}: {e}", cert.display())))?,
    ))
    .collect::<std::result::Result<Vec<_>, _>>()
    .map_err(|e| fail(format!("{}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(fail(format!("no certificate in {}", cert.display())));
    }
    let key = rustls_pemfile::private_key(&mut BufReader::new(
        File::open(key).map_err(|e| fail(format!("{}: {e}", key.display())))?,
    ))
    .map_err(|e| fail(format!("{}: {e}", key.display())))?
    .ok_or_else(|| fail(format!("no private key in {}", key.display())))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| fail(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

impl PgServer {
    /// Bind the listener and prepare TLS and users; fails fast on bad set-up.
    pub async fn bind(config: &Config, engine: Arc<Engine>) -> Result<PgServer> {
        let tls = match (&config.pg.tls_cert, &config.pg.tls_key) {
            (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
            _ => None,
        };
        let listener = TcpListener::bind(config.pg.addr).await.map_err(|e| {
            VoidxError::Config(format!(
                "cannot listen on {} for PostgreSQL clients: {e}. Help: choose another --pg-addr",
                config.pg.addr
            ))
        })?;
        let connections = Arc::new(ConnectionManager::new());
        Ok(PgServer {
            listener,
            query: Arc::new(QueryHandler::new(engine)),
            users: Arc::new(Users::from_config(&config.passwords())),
            cancel: Arc::new(DefaultCancelHandler::new(Arc::clone(&connections))),
            connections,
            limit: Arc::new(Semaphore::new(config.pg.max_connections)),
            max_connections: config.pg.max_connections,
            tls,
            catalog: config.catalog.clone(),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    pub fn tls_enabled(&self) -> bool {
        self.tls.is_some()
    }

    /// Accept connections until the task is dropped.
    pub async fn run(self) {
        loop {
            let (socket, peer) = match self.listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            let permit = Arc::clone(&self.limit).try_acquire_owned().ok();
            let reject = permit.is_none().then(|| {
                (
                    "53300".to_string(),
                    format!(
                        "sorry, too many clients already (pg.max_connections = {})",
                        self.max_connections
                    ),
                )
            });
            let handlers = Arc::new(ConnectionHandlers {
                query: Arc::new(self.query.for_connection()),
                startup: Arc::new(Startup::new(
                    self.catalog.clone(),
                    Arc::clone(&self.users),
                    Arc::clone(&self.connections),
                    reject,
                )),
                cancel: Arc::clone(&self.cancel),
            });
            let tls = self.tls.clone();
            tokio::spawn(async move {
                let _permit = permit;
                if let Err(e) = pgwire::tokio::process_socket(socket, tls, handlers).await {
                    tracing::debug!("connection from {peer} ended: {e}");
                }
            });
        }
    }
}
