//! REST API keys: `serve.api_keys` (each may use every model) and
//! `[serve.keys.NAME]` (a key, optionally limited to some models). The
//! prediction routes need a key once any is configured; a limited key is
//! refused with 403 on a model it may not use.
//!
//! ```toml
//! [serve.keys.dashboard]
//! key = "…"
//! models = ["revenue_predictor"]
//! ```

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use super::AppState;
use super::api::ApiError;
use crate::config::ServeConfig;

/// One configured key.
pub(super) struct Key {
    /// `serve.keys.NAME`; `None` for `serve.api_keys`.
    name: Option<String>,
    secret: Vec<u8>,
    /// `None` = every model.
    models: Option<Vec<String>>,
}

/// Every configured key.
pub struct Keys(Vec<Key>);

impl Keys {
    pub fn new(serve: &ServeConfig) -> Keys {
        let plain = serve.api_keys.iter().map(|k| Key {
            name: None,
            secret: k.as_bytes().to_vec(),
            models: None,
        });
        let named = serve.keys.iter().map(|(name, k)| Key {
            name: Some(name.clone()),
            secret: k.key.as_bytes().to_vec(),
            models: k.models.clone(),
        });
        Keys(plain.chain(named).collect())
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The key `token` is. Every key is compared, each in time that does not
    /// depend on where the bytes differ, so response timing does not leak a
    /// key prefix by prefix.
    pub(super) fn find(&self, token: &str) -> Option<&Key> {
        let same = |a: &[u8], b: &[u8]| {
            a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
        };
        self.0.iter().fold(None, |found, k| {
            let matches = same(&k.secret, token.as_bytes());
            found.or(matches.then_some(k))
        })
    }
}

impl Key {
    /// Limited to some models (`[serve.keys.NAME] models = [...]`).
    pub(super) fn is_limited(&self) -> bool {
        self.models.is_some()
    }

    /// `serve.keys.NAME`'s name, or `api_keys` for a key of that list.
    pub(super) fn label(&self) -> &str {
        self.name.as_deref().unwrap_or("api_keys")
    }

    fn allows(&self, model: &str) -> bool {
        self.models
            .as_ref()
            .is_none_or(|models| models.iter().any(|m| m == model))
    }
}

/// The model a prediction route names: `serve.default_model` for
/// `/predict`, the (percent-decoded, as axum decodes it) `{name}` of
/// `/v1/models/{name}/…`. `None` for a path that names no model.
fn model_of(path: &str, default_model: &str) -> Option<String> {
    if path == "/predict" {
        return Some(default_model.to_string());
    }
    let rest = path.strip_prefix("/v1/models/")?;
    let segment = rest.split('/').next()?;
    Some(
        percent_encoding::percent_decode_str(segment)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

fn unauthorized() -> Response {
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "a valid API key is required: send 'Authorization: Bearer <key>' (keys are in serve.api_keys and serve.keys)",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn forbidden(key: &Key, model: &str) -> Response {
    let name = key.name.as_deref().unwrap_or_default();
    let models = key.models.as_deref().unwrap_or_default().join(", ");
    ApiError::new(
        StatusCode::FORBIDDEN,
        "model_not_allowed",
        format!(
            "this API key ('{name}') may use only the models {models}; '{model}' is not one of them. \
             Help: call one of those, or ask the operator to add '{model}' to serve.keys.{name}.models"
        ),
    )
    .into_response()
}

/// Bearer-token check for the prediction routes when any key is configured.
pub async fn authorize(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if state.keys.is_empty() {
        return next.run(request).await;
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(key) = token.and_then(|t| state.keys.find(t)) else {
        return unauthorized();
    };
    if key.models.is_some() {
        // Fail closed: a limited key may call only routes that name a model.
        let model = model_of(request.uri().path(), &state.config.default_model);
        match model {
            Some(m) if key.allows(&m) => {}
            Some(m) => return forbidden(key, &m),
            None => return forbidden(key, "(none)"),
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ApiKeyConfig;

    fn keys() -> Keys {
        let mut serve = ServeConfig {
            api_keys: vec!["alpha-key".into(), "beta-key".into()],
            ..ServeConfig::default()
        };
        serve.keys.insert(
            "bi".into(),
            ApiKeyConfig {
                key: "bi-key-0001".into(),
                models: Some(vec!["revenue_predictor".into()]),
            },
        );
        Keys::new(&serve)
    }

    #[test]
    fn keys_match_exactly() {
        let keys = keys();
        assert!(keys.find("beta-key").is_some());
        assert!(keys.find("beta-ke").is_none());
        assert!(keys.find("beta-keyx").is_none());
        assert!(keys.find("").is_none());
        assert!(Keys(vec![]).find("alpha-key").is_none());
        let bi = keys.find("bi-key-0001").unwrap();
        assert!(bi.allows("revenue_predictor"));
        assert!(!bi.allows("churn"));
        assert!(!bi.allows("Revenue_Predictor"));
        assert!(keys.find("alpha-key").unwrap().allows("churn"));
    }

    #[test]
    fn the_model_a_route_names() {
        assert_eq!(model_of("/predict", "rp").as_deref(), Some("rp"));
        assert_eq!(
            model_of("/v1/models/churn/predict", "rp").as_deref(),
            Some("churn")
        );
        assert_eq!(
            model_of("/v1/models/%63hurn/predict", "rp").as_deref(),
            Some("churn")
        );
        assert_eq!(model_of("/health", "rp"), None);
    }
}
