//! `POST /predict` and `POST /v1/models/{name}/predict`.
//!
//! Each request is the SQL statement `?show_sql=true` prints —
//! `SELECT predict('m@v', …), predict_interval('m@v', …, level)
//! [, shap_explain('m@v', …)]` — answered on a direct path that calls the
//! same forest, conformal and TreeSHAP code the SQL functions call, so the
//! numbers are identical (an integration test runs the SQL and compares)
//! without planning a query per request.
//!
//! A batch looks its rows up in the cache at once (one Redis `MGET`), and
//! scores the misses of a batch above [`BLOCKING_BATCH_ROWS`] rows on
//! tokio's blocking pool, so a large batch (SHAP especially) never holds a
//! runtime worker that pgwire and `/health` need.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use voidx_udfs::ml::artifact::ModelArtifact;
use voidx_udfs::ml::shap::{ShapScratch, explain_row};
use voidx_udfs::model::ModelSource;

use super::AppState;
use super::api::{
    ApiError, BatchRequest, BatchResponse, ClassicRequest, ClassicResponse, ErrorBody,
    Explanations, PredictQuery, RowRequest, RowResponse,
};
use super::cache::Scored;
use super::metrics::ModelLabel;
use crate::config::UnknownFeatures;
use crate::error::VoidxError;
use crate::model::prediction_log::PredictionRecord;
use crate::storage::catalog::now_ms;

/// Batches with more cache misses than this are scored on the blocking pool.
pub const BLOCKING_BATCH_ROWS: usize = 256;

/// Predict one customer with the default model (`serve.default_model`).
#[utoipa::path(
    post,
    path = "/predict",
    request_body = ClassicRequest,
    params(PredictQuery),
    responses(
        (status = 200, description = "Prediction", body = ClassicResponse),
        (status = 400, description = "Malformed JSON or query string", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "The model does not exist or has no production version", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Missing, non-numeric or unknown features", body = ErrorBody),
    )
)]
pub async fn predict_classic(
    State(state): State<Arc<AppState>>,
    query: Result<Query<PredictQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let query = match parse_query(query) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let request: ClassicRequest = match parse_body(body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let model = state.config.default_model.clone();
    let row = RowRequest {
        customer_id: Some(request.customer_id.clone()),
        features: request.features,
        include_explanations: request.include_explanations,
    };
    match score_row(&state, &model, &row, query.show_sql, started).await {
        Ok(r) => {
            let label = ModelLabel {
                model: r.model.clone(),
                version: r.model_version.clone(),
            };
            let mut response = Json(ClassicResponse {
                customer_id: request.customer_id,
                predicted_revenue: r.prediction,
                confidence_interval: r.confidence_interval,
                explanations: r.explanations,
                model_version: r.model_version,
                latency_ms: r.latency_ms,
                cached: r.cached,
                sql: r.sql,
            })
            .into_response();
            response.extensions_mut().insert(label);
            response
        }
        Err(e) => e.into_response(),
    }
}

/// Predict one row or a batch with model `name`.
#[utoipa::path(
    post,
    path = "/v1/models/{name}/predict",
    request_body = BatchRequest,
    params(("name" = String, Path, description = "Model name"), PredictQuery),
    responses(
        (status = 200, description = "Predictions: an object for one row, an array for an array", body = BatchResponse),
        (status = 400, description = "Malformed JSON or query string", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "Unknown model", body = ErrorBody),
        (status = 413, description = "Body or batch too large", body = ErrorBody),
        (status = 422, description = "Missing, non-numeric or unknown features", body = ErrorBody),
    )
)]
pub async fn predict_model(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    query: Result<Query<PredictQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let query = match parse_query(query) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let request: BatchRequest = match parse_body(body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let result = match request {
        BatchRequest::One(row) => score_row(&state, &name, &row, query.show_sql, started)
            .await
            .map(BatchResponse::One),
        BatchRequest::Many(rows) => {
            if rows.len() > state.config.max_batch_rows {
                return ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "batch_too_large",
                    format!(
                        "{} rows in one request; the limit is {} (serve.max_batch_rows). Help: split the batch",
                        rows.len(),
                        state.config.max_batch_rows
                    ),
                )
                .into_response();
            }
            score_batch(&state, &name, &rows, query.show_sql, started)
                .await
                .map(BatchResponse::Many)
        }
    };
    match result {
        Ok(r) => {
            let label = match &r {
                BatchResponse::One(row) => Some(ModelLabel {
                    model: row.model.clone(),
                    version: row.model_version.clone(),
                }),
                BatchResponse::Many(rows) => rows.first().map(|row| ModelLabel {
                    model: row.model.clone(),
                    version: row.model_version.clone(),
                }),
            };
            let mut response = Json(r).into_response();
            if let Some(label) = label {
                response.extensions_mut().insert(label);
            }
            response
        }
        Err(e) => e.into_response(),
    }
}

fn parse_query(
    query: Result<Query<PredictQuery>, QueryRejection>,
) -> Result<PredictQuery, ApiError> {
    query.map(|Query(q)| q).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!(
                "{}. Help: the only parameter is show_sql=true|false",
                e.body_text()
            ),
        )
    })
}

fn parse_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the request body is larger than serve.body_limit_kb. Help: send fewer rows per request",
            )
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "unreadable_body", e.body_text())
        }
    })?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    serde_json::from_value(value).map_err(|e| {
        ApiError::unprocessable(
            "invalid_request",
            format!("{e}. Help: send {{\"customer_id\": \"c1\", \"features\": {{\"name\": 1.5, …}}, \"include_explanations\": false}}"),
        )
    })
}

/// The model's feature row from a request, checked.
fn feature_row(
    features: &serde_json::Map<String, Value>,
    wanted: &[String],
    unknown: UnknownFeatures,
    model: &str,
) -> Result<Vec<f64>, ApiError> {
    let mut missing = Vec::new();
    let mut bad = Vec::new();
    let mut row = Vec::with_capacity(wanted.len());
    for name in wanted {
        match features.get(name) {
            None => {
                missing.push(name.as_str());
                row.push(f64::NAN);
            }
            Some(Value::Null) => row.push(f64::NAN),
            Some(Value::Bool(b)) => row.push(f64::from(u8::from(*b))),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(v) if v.is_finite() => row.push(v),
                _ => bad.push(name.as_str()),
            },
            Some(_) => bad.push(name.as_str()),
        }
    }
    if !missing.is_empty() {
        return Err(ApiError::unprocessable(
            "missing_features",
            format!(
                "model '{model}' needs features {} that the request lacks (send null for a missing value). Its features are: {}",
                missing.join(", "),
                wanted.join(", ")
            ),
        ));
    }
    if !bad.is_empty() {
        return Err(ApiError::unprocessable(
            "non_numeric_features",
            format!(
                "features {} must be numbers (or null for missing)",
                bad.join(", ")
            ),
        ));
    }
    if unknown == UnknownFeatures::Reject {
        let extra: Vec<&str> = features
            .keys()
            .filter(|k| !wanted.contains(k))
            .map(String::as_str)
            .collect();
        if !extra.is_empty() {
            return Err(ApiError::unprocessable(
                "unknown_features",
                format!(
                    "model '{model}' does not know features {} (serve.unknown_features = \"reject\"). Its features are: {}",
                    extra.join(", "),
                    wanted.join(", ")
                ),
            ));
        }
    }
    Ok(row)
}

/// A request row resolved to its model version and checked features.
struct Prepared {
    spec: String,
    version: i64,
    artifact: Arc<ModelArtifact>,
    values: Vec<f64>,
    explain: bool,
    key: String,
}

fn prepare(state: &AppState, model: &str, row: &RowRequest) -> Result<Prepared, ApiError> {
    let registry = &state.registry;
    let version = registry
        .route(model, row.customer_id.as_deref())
        .ok_or_else(|| registry.unroutable(model))?;
    let spec = format!("{model}@{version}");
    let resolved = registry.resolve(&spec).map_err(VoidxError::loading_model)?;
    let values = feature_row(
        &row.features,
        &resolved.artifact.forest.feature_names,
        state.config.unknown_features,
        model,
    )?;
    let key = cache_key(&spec, row.include_explanations, &values);
    Ok(Prepared {
        spec,
        version,
        artifact: resolved.artifact,
        values,
        explain: row.include_explanations,
        key,
    })
}

/// The answer for one prepared row: the same forest, conformal and
/// TreeSHAP code the SQL functions run.
fn compute(p: &Prepared, level: f64) -> Scored {
    let forest = &p.artifact.forest;
    let columns: Vec<&[f64]> = p.values.iter().map(std::slice::from_ref).collect();
    let mut out = [0.0];
    forest.predict(&columns, &mut out);
    let prediction = out[0];
    let interval = match &p.artifact.conformal {
        Some(c) => c
            .half_width(level)
            .ok()
            .map(|q| [prediction - q, prediction + q]),
        None => None,
    };
    let explanations = p.explain.then(|| {
        let mut phi = vec![0.0; forest.n_features()];
        explain_row(forest, &p.values, &mut phi, &mut ShapScratch::new(forest));
        let mut pairs: Vec<(String, f64)> = forest.feature_names.iter().cloned().zip(phi).collect();
        pairs.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        pairs.truncate(10);
        Explanations(pairs)
    });
    Scored {
        prediction,
        interval,
        explanations,
    }
}

/// Logs the prediction and shapes the response row.
fn finish(
    state: &AppState,
    model: &str,
    row: &RowRequest,
    p: &Prepared,
    (scored, cached): (&Scored, bool),
    show_sql: bool,
    started: Instant,
) -> RowResponse {
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let level = state.config.interval_level;
    if let Some(log) = &state.log {
        log.log(PredictionRecord {
            ts: now_ms(),
            model: model.to_string(),
            version: p.version,
            customer_id: row.customer_id.clone(),
            features: serde_json::to_string(&row.features).unwrap_or_default(),
            prediction: scored.prediction,
            interval_lower: scored.interval.map(|i| i[0]),
            interval_upper: scored.interval.map(|i| i[1]),
            latency_ms,
            cached,
            request_id: state.next_request_id(),
            source: "rest".into(),
        });
    }
    RowResponse {
        model: model.to_string(),
        model_version: p.version.to_string(),
        customer_id: row.customer_id.clone(),
        prediction: scored.prediction,
        confidence_interval: scored.interval,
        explanations: scored.explanations.clone(),
        latency_ms,
        cached,
        sql: show_sql.then(|| equivalent_sql(&p.spec, &p.values, level, p.explain)),
    }
}

fn sync_generation(state: &AppState) {
    let generation = state.registry.generation();
    if generation != state.cache.generation() {
        state.cache.invalidate(generation);
    }
}

async fn score_row(
    state: &AppState,
    model: &str,
    row: &RowRequest,
    show_sql: bool,
    started: Instant,
) -> Result<RowResponse, ApiError> {
    sync_generation(state);
    let p = prepare(state, model, row)?;
    let (scored, cached) = match state.cache.get(&p.key).await {
        Some(hit) => (hit, true),
        None => {
            let scored = Arc::new(compute(&p, state.config.interval_level));
            state.cache.insert(p.key.clone(), Arc::clone(&scored));
            (scored, false)
        }
    };
    Ok(finish(
        state,
        model,
        row,
        &p,
        (&scored, cached),
        show_sql,
        started,
    ))
}

/// A batch: every row prepared (the first bad row fails the request), one
/// cache lookup for all, the misses scored — on the blocking pool when
/// there are more than [`BLOCKING_BATCH_ROWS`] — and stored in one go.
async fn score_batch(
    state: &AppState,
    model: &str,
    rows: &[RowRequest],
    show_sql: bool,
    started: Instant,
) -> Result<Vec<RowResponse>, ApiError> {
    sync_generation(state);
    let prepared = rows
        .iter()
        .map(|row| prepare(state, model, row))
        .collect::<Result<Vec<_>, _>>()?;
    let keys: Vec<String> = prepared.iter().map(|p| p.key.clone()).collect();
    let found = state.cache.get_many(&keys).await;
    // A key missing twice is computed once; the later rows are answered by
    // the first, as hits (as they were when rows went one at a time).
    let mut first: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut misses = Vec::new();
    let mut repeats = Vec::new();
    for i in (0..found.len()).filter(|&i| found[i].is_none()) {
        match first.entry(prepared[i].key.as_str()) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(i);
                misses.push(i);
            }
            std::collections::hash_map::Entry::Occupied(e) => repeats.push((i, *e.get())),
        }
    }
    drop(first);
    state.cache.count_as_hits(repeats.len() as u64);
    let level = state.config.interval_level;
    let (prepared, computed) = if misses.len() > BLOCKING_BATCH_ROWS {
        tokio::task::spawn_blocking(move || {
            let computed: Vec<Scored> = misses
                .iter()
                .map(|&i| compute(&prepared[i], level))
                .collect();
            (prepared, (misses, computed))
        })
        .await
        .map_err(|e| ApiError::from(VoidxError::Internal(format!("scoring stopped: {e}"))))?
    } else {
        let computed: Vec<Scored> = misses
            .iter()
            .map(|&i| compute(&prepared[i], level))
            .collect();
        (prepared, (misses, computed))
    };
    let (misses, computed) = computed;
    let mut answers: Vec<Option<(Arc<Scored>, bool)>> = found
        .into_iter()
        .map(|f| f.map(|hit| (hit, true)))
        .collect();
    let mut fresh = Vec::with_capacity(misses.len());
    for (i, scored) in misses.into_iter().zip(computed) {
        let scored = Arc::new(scored);
        fresh.push((prepared[i].key.clone(), Arc::clone(&scored)));
        answers[i] = Some((scored, false));
    }
    for (i, j) in repeats {
        answers[i] = answers[j]
            .as_ref()
            .map(|(scored, _)| (Arc::clone(scored), true));
    }
    state.cache.insert_many(fresh);
    Ok(prepared
        .iter()
        .zip(rows)
        .zip(answers)
        .filter_map(|((p, row), answer)| {
            let (scored, cached) = answer?;
            Some(finish(
                state,
                model,
                row,
                p,
                (&scored, cached),
                show_sql,
                started,
            ))
        })
        .collect())
}

/// Model version, the explanation flag and the exact feature bits.
const HEX: &[u8; 16] = b"0123456789abcdef";

fn cache_key(spec: &str, explain: bool, values: &[f64]) -> String {
    let mut key = String::with_capacity(spec.len() + 2 + values.len() * 17);
    key.push_str(spec);
    key.push(if explain { '+' } else { '-' });
    for v in values {
        let bits = if v.is_nan() {
            f64::NAN.to_bits()
        } else {
            v.to_bits()
        };
        // hex by hand: this runs for every feature of every request
        for shift in (0..16).rev() {
            key.push(char::from(HEX[((bits >> (shift * 4)) & 0xf) as usize]));
        }
    }
    key
}

/// The SQL statement a request equals.
pub fn equivalent_sql(spec: &str, values: &[f64], level: f64, explain: bool) -> String {
    let args: Vec<String> = values
        .iter()
        .map(|v| {
            if v.is_nan() {
                "CAST(NULL AS DOUBLE)".to_string()
            } else {
                format!("CAST({v:?} AS DOUBLE)")
            }
        })
        .collect();
    let args = args.join(", ");
    let mut sql = format!(
        "SELECT predict('{spec}', {args}) AS prediction, predict_interval('{spec}', {args}, {level:?}) AS confidence_interval"
    );
    if explain {
        sql.push_str(&format!(", shap_explain('{spec}', {args}) AS explanations"));
    }
    sql
}
