//! `GET /v1/models/{name}/card[?version=N]`: the model card of
//! [`crate::model::card`] as `text/markdown`, behind the same key check as
//! the prediction routes; errors are the usual `{code, error, message}` JSON
//! (404 `model_not_found` for an unknown model or version).
//!
//! ```text
//! curl http://127.0.0.1:8080/v1/models/revenue_predictor/card?version=2
//! ```

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::api::ApiError;

#[derive(Deserialize)]
pub struct CardQuery {
    version: Option<i64>,
}

pub async fn model_card(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(query): Query<CardQuery>,
) -> Response {
    match crate::model::card::render(&state.registry, &name, query.version).await {
        Ok(card) => (
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            card,
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
