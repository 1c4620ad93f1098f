//! The HTTP server: the REST prediction shim (`POST /predict`,
//! `POST /v1/models/{name}/predict`), model cards (`GET /v1/models/{name}/card`),
//! `GET /health`, `GET /metrics`, `GET /openapi.json`, a browsable `GET /docs`
//! page and the dashboard at `GET /` with its data endpoints
//! `GET /v1/dashboard[/{chart}]`. Thin: predictions go through the registry
//! and the same forest code as the SQL functions; dashboard charts are fixed
//! SQL run through the engine.

mod api;
mod auth;
mod cache;
mod card;
mod dashboard;
mod dictionary;
mod docs;
mod metrics;
mod predict;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use tokio::net::TcpListener;

use crate::config::{Config, ServeConfig};
use crate::engine::Engine;
use crate::error::{Result, VoidxError};
use crate::model::prediction_log::{FlushPolicy, PredictionLog};
use api::ApiError;
use cache::PredictionCache;
use metrics::Metrics;

pub use predict::equivalent_sql;

pub struct AppState {
    pub engine: Arc<Engine>,
    pub registry: Arc<crate::model::registry::Registry>,
    pub monitor: Arc<crate::monitor::Monitor>,
    pub config: ServeConfig,
    /// `serve.api_keys` and `serve.keys`, for the prediction routes.
    keys: auth::Keys,
    /// `[users]` logins, for the dashboard's data (HTTP Basic).
    logins: dashboard::Logins,
    cache: PredictionCache,
    pub log: Option<Arc<PredictionLog>>,
    metrics: Metrics,
    requests: AtomicU64,
    started: std::time::Instant,
}

impl AppState {
    /// Request ids: start time and a counter, unique per process.
    fn next_request_id(&self) -> String {
        format!(
            "{:x}-{:x}",
            self.started.elapsed().as_nanos() as u64 ^ 0x5eed,
            self.requests.fetch_add(1, Ordering::Relaxed)
        )
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when a dependency (storage, Redis) is unavailable.
    status: &'static str,
    version: &'static str,
    catalog: String,
    data_dir: String,
    storage: &'static str,
    tables: usize,
    /// Production version of every model.
    models: Vec<ModelHealth>,
    cache: CacheHealth,
    prediction_log: LogHealth,
    /// Scheduled jobs: staleness and failures. A job whose last run failed,
    /// or with no success for more than twice its interval, makes the
    /// status `degraded`.
    jobs: Vec<JobHealth>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct JobHealth {
    name: String,
    schedule: String,
    last_status: Option<String>,
    last_error: Option<String>,
    /// Seconds since the last success (since creation when none yet).
    staleness_seconds: f64,
    failures: u64,
    successes: u64,
    /// `ok`, `failed` (last run failed) or `stale`.
    status: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ModelHealth {
    name: String,
    production_version: Option<i64>,
    versions: usize,
}

#[derive(Serialize, utoipa::ToSchema)]
struct CacheHealth {
    /// `memory`, `redis` or `memory+redis`.
    backend: &'static str,
    /// `ok`, `down` or `skipped` (circuit breaker open) when Redis is configured.
    redis: Option<&'static str>,
    enabled: bool,
    entries: u64,
    hits: u64,
    misses: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
struct LogHealth {
    enabled: bool,
    queue_depth: usize,
    written: u64,
    dropped: u64,
}

/// Server status, models and dependencies.
#[utoipa::path(get, path = "/health", responses((status = 200, description = "Status", body = Health)))]
async fn health(State(state): State<Arc<AppState>>) -> Json<Health> {
    let engine = &state.engine;
    let storage_ok = engine.catalog.data_dir().is_available().await;
    let mut models: Vec<ModelHealth> = Vec::new();
    for v in state.registry.versions() {
        match models.iter_mut().find(|m| m.name == v.name) {
            Some(m) => m.versions += 1,
            None => models.push(ModelHealth {
                production_version: state.registry.production(&v.name),
                name: v.name.clone(),
                versions: 1,
            }),
        }
    }
    let redis = state.cache.redis_healthy();
    let jobs: Vec<JobHealth> = state
        .monitor
        .job_health(crate::storage::catalog::now_ms())
        .into_iter()
        .map(|j| JobHealth {
            status: match (j.degraded, j.last_status.as_deref()) {
                (false, _) => "ok",
                (true, Some("failed")) => "failed",
                (true, _) => "stale",
            },
            name: j.name,
            schedule: j.schedule,
            last_status: j.last_status,
            last_error: j.last_error,
            staleness_seconds: j.staleness_seconds,
            failures: j.failures,
            successes: j.successes,
        })
        .collect();
    let jobs_ok = jobs.iter().all(|j| j.status == "ok");
    let healthy = storage_ok && redis != Some(false) && jobs_ok;
    Json(Health {
        status: if healthy { "ok" } else { "degraded" },
        version: env!("CARGO_PKG_VERSION"),
        catalog: engine.catalog_name.clone(),
        data_dir: engine.catalog.data_dir().to_string(),
        storage: if storage_ok { "ok" } else { "unavailable" },
        tables: engine.catalog.objects().len(),
        models,
        cache: CacheHealth {
            backend: state.cache.backend(),
            redis: redis.map(|ok| match (ok, state.cache.redis_breaker_open()) {
                (true, _) => "ok",
                (false, true) => "skipped",
                (false, false) => "down",
            }),
            enabled: state.cache.enabled(),
            entries: state.cache.entries(),
            hits: state.cache.hits(),
            misses: state.cache.misses(),
        },
        prediction_log: LogHealth {
            enabled: state.log.is_some(),
            queue_depth: state.log.as_ref().map_or(0, |l| l.queue_depth()),
            written: state.log.as_ref().map_or(0, |l| l.written()),
            dropped: state.log.as_ref().map_or(0, |l| l.dropped()),
        },
        jobs,
    })
}

/// `serve.request_timeout_ms` for every request, answered as JSON.
async fn time_limit(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let limit = Duration::from_millis(state.config.request_timeout_ms);
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "the request took longer than serve.request_timeout_ms ({} ms)",
                limit.as_millis()
            ),
        )
        .into_response(),
    }
}

async fn not_found() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint. Help: GET /docs lists the endpoints",
    )
    .into_response()
}

/// A handler that panicked: 500 with the usual error body for this request
/// alone; the server and other connections carry on.
fn panicked(payload: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let message = crate::engine::panic_message(payload.as_ref());
    tracing::error!(panic = %message, "REST request panicked; answered 500");
    ApiError::from(crate::error::VoidxError::Internal(format!(
        "the request hit an internal error ({message}). Help: this is a bug; please report it with the request body"
    )))
    .into_response()
}

pub fn router(state: Arc<AppState>) -> Router {
    let predictions = Router::new()
        .route("/predict", post(predict::predict_classic))
        .route("/v1/models/{name}/predict", post(predict::predict_model))
        .route("/v1/models/{name}/card", get(card::model_card))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            auth::authorize,
        ));
    let mut app = Router::new()
        .merge(predictions)
        .route("/health", get(health))
        .route("/metrics", get(metrics::render))
        .route("/openapi.json", get(docs::openapi_json))
        .route("/docs", get(docs::page))
        .route("/", get(dashboard::page))
        .route("/dashboard/{file}", get(dashboard::static_file))
        .route("/v1/dashboard", get(dashboard::list))
        .route("/v1/dashboard/{chart}", get(dashboard::data))
        .route("/v1/docs/data-dictionary", get(dictionary::data_dictionary))
        .fallback(not_found)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(DefaultBodyLimit::max(state.config.body_limit_kb * 1024))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            time_limit,
        ))
        .layer(tower::limit::ConcurrencyLimitLayer::new(
            state.config.max_concurrency,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            metrics::track,
        ));
    if !state.config.cors_origins.is_empty() {
        use tower_http::cors::{AllowOrigin, Any, CorsLayer};
        let origins = &state.config.cors_origins;
        let allow = if origins.iter().any(|o| o == "*") {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
        };
        app = app.layer(
            CorsLayer::new()
                .allow_origin(allow)
                .allow_methods(Any)
                .allow_headers(Any),
        );
    }
    app.with_state(state)
}

pub async fn bind(config: &Config) -> Result<TcpListener> {
    TcpListener::bind(config.http.addr).await.map_err(|e| {
        VoidxError::Config(format!(
            "cannot listen on {} for HTTP: {e}. Help: choose another --http-addr",
            config.http.addr
        ))
    })
}

/// Builds the shared state: cache, metrics and (when enabled) the prediction log.
pub async fn state(config: &Config, app: &crate::app::App) -> Result<Arc<AppState>> {
    let engine = Arc::clone(&app.engine);
    let log = if config.serve.log_predictions {
        let policy = FlushPolicy::new(config.serve.log_flush_ms, config.serve.log_batch_rows);
        Some(
            PredictionLog::open(
                &engine.catalog,
                &engine.system,
                config.serve.log_queue,
                policy,
            )
            .await?,
        )
    } else {
        PredictionLog::register(&engine.catalog, &engine.system).await?;
        None
    };
    Ok(Arc::new(AppState {
        engine,
        registry: Arc::clone(&app.registry),
        monitor: Arc::clone(&app.monitor),
        config: config.serve.clone(),
        keys: auth::Keys::new(&config.serve),
        logins: dashboard::Logins::new(config),
        cache: PredictionCache::new(&config.cache)?,
        log,
        metrics: Metrics::new(),
        requests: AtomicU64::new(0),
        started: std::time::Instant::now(),
    }))
}

pub async fn run(listener: TcpListener, state: Arc<AppState>) -> std::io::Result<()> {
    axum::serve(listener, router(state)).await
}
