//! The REST shim's request and response types (their OpenAPI schemas come
//! from these definitions) and its one error type: every error body is
//! `{"code", "error", "message"}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /predict`: the contract of the service VOIDX replaces.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ClassicRequest {
    /// Routes A/B traffic (sticky per id) and is logged.
    pub customer_id: String,
    /// Feature name → number (`null` = missing value; booleans count as 0/1).
    #[schema(value_type = Object)]
    pub features: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub include_explanations: bool,
}

/// One row of `POST /v1/models/{name}/predict`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RowRequest {
    #[serde(default)]
    pub customer_id: Option<String>,
    #[schema(value_type = Object)]
    pub features: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub include_explanations: bool,
}

/// One row, or an array of rows (at most `serve.max_batch_rows`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum BatchRequest {
    Many(Vec<RowRequest>),
    One(RowRequest),
}

/// Top contributions (SHAP, raw-score space), largest magnitude first.
#[derive(Debug, Clone, Default, PartialEq, ToSchema)]
#[schema(value_type = Object)]
pub struct Explanations(pub Vec<(String, f64)>);

impl Serialize for Explanations {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClassicResponse {
    pub customer_id: String,
    pub predicted_revenue: f64,
    /// Conformal interval at `serve.interval_level`; null when the model has none.
    pub confidence_interval: Option<[f64; 2]>,
    pub explanations: Option<Explanations>,
    pub model_version: String,
    pub latency_ms: f64,
    pub cached: bool,
    /// The SQL statement this answer equals (with `?show_sql=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RowResponse {
    pub model: String,
    pub model_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    pub prediction: f64,
    pub confidence_interval: Option<[f64; 2]>,
    pub explanations: Option<Explanations>,
    pub latency_ms: f64,
    pub cached: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
}

/// An object for one row in, an array for an array in.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum BatchResponse {
    Many(Vec<RowResponse>),
    One(RowResponse),
}

#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
pub struct PredictQuery {
    /// Add the SQL statement the answer equals.
    #[serde(default)]
    pub show_sql: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable, e.g. `missing_features`.
    pub code: String,
    /// The HTTP reason, e.g. `Unprocessable Entity`.
    pub error: String,
    /// What went wrong and what to do.
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code.to_string(),
            error: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            message: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

/// The one mapping of engine errors to REST: the status comes from the
/// SQLSTATE class (`VoidxError::http_status`), the message is the one psql shows.
impl From<crate::error::VoidxError> for ApiError {
    fn from(e: crate::error::VoidxError) -> Self {
        let (status, code) = e.http_status();
        ApiError::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            e.client_message(),
        )
    }
}
