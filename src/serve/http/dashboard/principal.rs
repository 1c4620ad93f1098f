//! Who is asking for dashboard data (or the data dictionary,
//! `GET /v1/docs/data-dictionary`), and the SQL session their charts run
//! in. The dashboard's rows are SQL results, so both front ends' rules
//! apply: when any REST key (`serve.api_keys`, `[serve.keys.NAME]`) or any
//! SQL user (`[users]`) is configured, a request needs one of them; with
//! neither (possible only on loopback, `Config::validate`) it is open.
//!
//! * `Authorization: Bearer <key>`: a key that may use every model. A key
//!   limited to some models is refused with 403: the dashboard reads every
//!   table, so a limited key fails closed as on routes that name no model.
//! * `Authorization: Basic base64(user:password)`: a configured SQL login,
//!   checked against the same salted SCRAM verifier pgwire uses.
//!
//! Charts run as that principal with the `reader` role at most: a chart is
//! a fixed SELECT, so no credential turns it into a write.
//!
//! ```text
//! curl -H 'Authorization: Basic '$(printf ann:secret | base64) localhost:8080/v1/dashboard/latency
//! ```

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use pgwire::api::auth::sasl::scram::gen_salted_password;

use super::super::api::ApiError;
use super::super::auth::Keys;
use crate::config::{Config, Role};
use crate::engine::Session;

/// PBKDF2 rounds of the verifiers, as pgwire's SCRAM logins use.
const ITERATIONS: usize = 4096;

/// Salted password hashes of the configured SQL users (the clear text is
/// not kept).
pub struct Logins {
    verifiers: HashMap<String, ([u8; 16], Vec<u8>)>,
    roles: HashMap<String, Role>,
}

impl Logins {
    pub fn new(config: &Config) -> Logins {
        let verifiers = config
            .passwords()
            .into_iter()
            .map(|(name, password)| {
                let salt: [u8; 16] = rand::random();
                let salted = gen_salted_password(&password, &salt, ITERATIONS);
                (name, (salt, salted))
            })
            .collect();
        let roles = config.roles().into_iter().collect();
        Logins { verifiers, roles }
    }

    fn is_empty(&self) -> bool {
        self.verifiers.is_empty()
    }

    /// The role of `user` when `password` is theirs. Every configured user
    /// costs the same PBKDF2 work, known or not, so timing does not tell
    /// which names exist.
    fn check(&self, user: &str, password: &str) -> Option<Role> {
        let dummy = ([0u8; 16], Vec::new());
        let (salt, salted) = self.verifiers.get(user).unwrap_or(&dummy);
        let computed = gen_salted_password(password, salt, ITERATIONS);
        let same = computed.len() == salted.len()
            && computed
                .iter()
                .zip(salted)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        (same && self.verifiers.contains_key(user))
            .then(|| self.roles.get(user).copied().unwrap_or(Role::Reader))
    }
}

/// Why a request gets no session: answered as the usual error body.
#[derive(Debug)]
pub struct Refusal(ApiError);

impl Refusal {
    #[cfg(test)]
    fn status(&self) -> StatusCode {
        self.0.status
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let challenge = self.0.status == StatusCode::UNAUTHORIZED;
        let mut response = self.0.into_response();
        if challenge {
            // Bearer, not Basic: a Basic challenge would make browsers open
            // their own login dialog over the page's form.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

fn unauthorized(message: &str) -> Refusal {
    Refusal(ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        message,
    ))
}

const NEEDS_CREDENTIALS: &str = "the dashboard's data and the data dictionary need a credential: send 'Authorization: Bearer <key>' (serve.api_keys, serve.keys) or 'Authorization: Basic <base64 of user:password>' of a [users] login. Help: the page at / asks for either and keeps it in this browser";

/// The session the charts of this request run in, or the refusal.
pub fn session(keys: &Keys, logins: &Logins, headers: &HeaderMap) -> Result<Session, Refusal> {
    if keys.is_empty() && logins.is_empty() {
        return Ok(Session::new("voidx", Role::Reader));
    }
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(unauthorized(NEEDS_CREDENTIALS));
    };
    if let Some(token) = value.strip_prefix("Bearer ") {
        return match keys.find(token) {
            None => Err(unauthorized(NEEDS_CREDENTIALS)),
            Some(key) if key.is_limited() => Err(Refusal(ApiError::new(
                StatusCode::FORBIDDEN,
                "dashboard_not_allowed",
                format!(
                    "this API key ('{}') may use only some models, and the dashboard and the data dictionary read every table. \
                     Help: use a key of serve.api_keys, or a [users] login",
                    key.label()
                ),
            ))),
            Some(key) => Ok(Session::new(&format!("key:{}", key.label()), Role::Reader)),
        };
    }
    if let Some(encoded) = value.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        let Some((user, password)) = decoded.as_deref().and_then(|t| t.split_once(':')) else {
            return Err(unauthorized(NEEDS_CREDENTIALS));
        };
        return match logins.check(user, password) {
            Some(role) => Ok(Session::new(user, role.min(Role::Reader))),
            None => Err(unauthorized(&format!(
                "password authentication failed for user \"{user}\". Help: the [users] logins of psql work here"
            ))),
        };
    }
    Err(unauthorized(NEEDS_CREDENTIALS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ApiKeyConfig, UserConfig};

    fn config() -> Config {
        let mut c = Config::default();
        c.serve.api_keys = vec!["full-key".into()];
        c.serve.keys.insert(
            "bi".into(),
            ApiKeyConfig {
                key: "bi-key".into(),
                models: Some(vec!["m".into()]),
            },
        );
        c.users.insert(
            "ann".into(),
            UserConfig::Full {
                password: "secret".into(),
                role: Role::Analyst,
            },
        );
        c
    }

    fn header(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    fn basic(text: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(text)
        )
    }

    #[test]
    fn who_may_read_the_dashboard() {
        let c = config();
        let (keys, logins) = (Keys::new(&c.serve), Logins::new(&c));
        let status = |h: &HeaderMap| session(&keys, &logins, h).map_err(|r| r.status().as_u16());
        assert_eq!(status(&HeaderMap::new()).err(), Some(401));
        assert_eq!(status(&header("Bearer nope")).err(), Some(401));
        assert_eq!(status(&header("Bearer bi-key")).err(), Some(403));
        let s = status(&header("Bearer full-key")).unwrap();
        assert_eq!(s.role, Role::Reader);
        let s = status(&header(&basic("ann:secret"))).unwrap();
        assert_eq!((s.user.as_str(), s.role), ("ann", Role::Reader));
        assert_eq!(status(&header(&basic("ann:wrong"))).err(), Some(401));
        assert_eq!(status(&header(&basic("bob:secret"))).err(), Some(401));
        assert_eq!(status(&header("Basic !!!")).err(), Some(401));
        let open = Config::default();
        let s = session(
            &Keys::new(&open.serve),
            &Logins::new(&open),
            &HeaderMap::new(),
        )
        .unwrap();
        assert_eq!(s.role, Role::Reader);
    }
}
