//! `GET /v1/docs/data-dictionary[?schema=S&schema=T]`: the data dictionary
//! of [`crate::storage::dictionary`] as `text/markdown`. The answer is the
//! SQL `SELECT markdown FROM data_dictionary('S', 'T')` run as the caller,
//! behind the dashboard's credential check (a key of `serve.api_keys` or a
//! `[users]` login by HTTP Basic when any is configured; a key limited to
//! some models is refused, 403, since the dictionary describes every
//! table). Errors are the usual `{code, error, message}` JSON (404
//! `not_found` for an unknown schema, SQLSTATE 3F000).
//!
//! ```text
//! curl -H 'Authorization: Basic '$(printf ann:secret | base64) \
//!   'http://127.0.0.1:8080/v1/docs/data-dictionary?schema=shop'
//! ```

use std::sync::Arc;

use arrow::array::{Array, AsArray};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::api::ApiError;
use super::dashboard::principal;
use crate::engine::{Output, Session};
use crate::error::{Result, VoidxError};

/// The statement the route runs: one quoted literal per `schema=`.
fn statement(query: Option<&str>) -> String {
    let schemas: Vec<String> = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(k, _)| k == "schema")
        .map(|(_, v)| format!("'{}'", v.replace('\'', "''")))
        .collect();
    format!(
        "SELECT markdown FROM data_dictionary({})",
        schemas.join(", ")
    )
}

async fn run(state: &AppState, session: &mut Session, sql: &str) -> Result<String> {
    let engine = &state.engine;
    let mut markdown = String::new();
    for stmt in engine.parse(sql)? {
        if let Output::Rows(stream) = engine.execute_in(session, &stmt, None, None).await? {
            let batches: Vec<_> = futures::TryStreamExt::try_collect(stream).await?;
            for batch in &batches {
                let column = batch.column(0).as_string_opt::<i32>().ok_or_else(|| {
                    VoidxError::Internal("data_dictionary did not answer text".into())
                })?;
                for i in 0..column.len() {
                    markdown.push_str(column.value(i));
                }
            }
        }
    }
    Ok(markdown)
}

/// The data dictionary as markdown.
#[utoipa::path(
    get,
    path = "/v1/docs/data-dictionary",
    params(("schema" = Option<String>, Query, description = "A schema to describe (repeat the parameter for several; voidx = the system tables); every schema when absent")),
    responses(
        (status = 200, description = "The dictionary, as `SELECT markdown FROM data_dictionary(...)` answers it", body = String, content_type = "text/markdown"),
        (status = 401, description = "A key or login is configured and none (or a wrong one) was sent", body = super::api::ErrorBody),
        (status = 403, description = "The API key is limited to some models", body = super::api::ErrorBody),
        (status = 404, description = "No such schema", body = super::api::ErrorBody),
        (status = 422, description = "A schema name that is not text", body = super::api::ErrorBody),
        (status = 500, description = "An internal error while reading the catalog", body = super::api::ErrorBody),
        (status = 503, description = "Slower than serve.request_timeout_ms", body = super::api::ErrorBody),
    )
)]
pub async fn data_dictionary(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let mut session = match principal::session(&state.keys, &state.logins, &headers) {
        Ok(s) => s,
        Err(refusal) => return refusal.into_response(),
    };
    match run(&state, &mut session, &statement(query.as_deref())).await {
        Ok(markdown) => (
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            markdown,
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_schema_parameter_is_one_quoted_literal() {
        assert_eq!(
            super::statement(None),
            "SELECT markdown FROM data_dictionary()"
        );
        assert_eq!(
            super::statement(Some("schema=shop&x=1&schema=o%27k")),
            "SELECT markdown FROM data_dictionary('shop', 'o''k')"
        );
    }
}
