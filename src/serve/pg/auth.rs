//! Who may connect: SCRAM-SHA-256 for configured users (salted verifiers
//! computed once at start; the clear-text password is not kept), or — when
//! no user is configured — the single user `voidx` without a password, which
//! `Config::validate` allows only on a loopback address.
//!
//! Every connection also checks the database name against the catalog name
//! (dbt and others rely on it) and the connection limit.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::{ScramAuth, gen_salted_password};
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::{ClientInfo, ConnectionManager};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use super::errors::fatal;

pub const DEFAULT_USER: &str = "voidx";
const SCRAM_ITERATIONS: usize = 4096;

/// Salted SCRAM verifiers, one per user.
#[derive(Debug)]
pub struct Users {
    verifiers: HashMap<String, Password>,
}

impl Users {
    pub fn from_config(users: &std::collections::BTreeMap<String, String>) -> Users {
        let verifiers = users
            .iter()
            .map(|(name, password)| {
                let salt: [u8; 16] = rand::random();
                let salted = gen_salted_password(password, &salt, SCRAM_ITERATIONS);
                (name.clone(), Password::new(Some(salt.to_vec()), salted))
            })
            .collect();
        Users { verifiers }
    }

    pub fn is_empty(&self) -> bool {
        self.verifiers.is_empty()
    }
}

#[async_trait]
impl AuthSource for Users {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or_default();
        self.verifiers.get(user).cloned().ok_or_else(|| {
            fatal(
                "28P01",
                format!("password authentication failed for user \"{user}\""),
            )
        })
    }
}

/// Startup of one connection.
pub struct Startup {
    pub catalog: String,
    pub users: Arc<Users>,
    pub connections: Arc<ConnectionManager>,
    /// Set when the connection limit is reached: the client is told why.
    pub reject: Option<(String, String)>,
    /// SCRAM state is per connection, so each connection gets its own.
    sasl: Option<SASLAuthStartupHandler<DefaultServerParameterProvider>>,
}

impl Startup {
    pub fn new(
        catalog: String,
        users: Arc<Users>,
        connections: Arc<ConnectionManager>,
        reject: Option<(String, String)>,
    ) -> Startup {
        let sasl = (!users.is_empty()).then(|| {
            SASLAuthStartupHandler::new(Arc::new(DefaultServerParameterProvider::default()))
                .with_scram(ScramAuth::new(Arc::clone(&users) as Arc<dyn AuthSource>))
                .with_connection_manager(Arc::clone(&connections))
        });
        Startup {
            catalog,
            users,
            connections,
            reject,
            sasl,
        }
    }

    fn check(&self, user: &str, database: &str) -> PgWireResult<()> {
        if let Some((code, message)) = &self.reject {
            return Err(fatal(code, message.clone()));
        }
        if database != self.catalog {
            return Err(fatal(
                "3D000",
                format!(
                    "database \"{database}\" does not exist; this server's database is \"{}\"",
                    self.catalog
                ),
            ));
        }
        if self.users.is_empty() && user != DEFAULT_USER {
            return Err(fatal(
                "28000",
                format!(
                    "role \"{user}\" does not exist: with no users configured, connect as \"{DEFAULT_USER}\""
                ),
            ));
        }
        Ok(())
    }
}

/// The passwordless path, used only when no user is configured.
struct Trust(Arc<ConnectionManager>);

#[async_trait]
impl NoopStartupHandler for Trust {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(Arc::clone(&self.0))
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let PgWireFrontendMessage::Startup(startup) = &message {
            let user = startup.parameters.get("user").cloned().unwrap_or_default();
            // PostgreSQL defaults the database to the user name.
            let database = startup
                .parameters
                .get("database")
                .cloned()
                .unwrap_or_else(|| user.clone());
            self.check(&user, &database)?;
        }
        match &self.sasl {
            Some(sasl) => sasl.on_startup(client, message).await,
            None => {
                Trust(Arc::clone(&self.connections))
                    .on_startup(client, message)
                    .await
            }
        }
    }
}
