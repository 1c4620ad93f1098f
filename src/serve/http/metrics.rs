//! `GET /metrics`: Prometheus text. Requests and latency by route, status,
//! model and version; cache hits and misses (and their ratio); the
//! prediction log's queue depth, written and dropped entries.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::AppState;

/// Put on a response by handlers that served a model.
#[derive(Debug, Clone)]
pub struct ModelLabel {
    pub model: String,
    pub version: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub status: u16,
    pub model: String,
    pub version: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub job: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertLabels {
    pub alert: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
    cache_hits: Counter,
    cache_misses: Counter,
    cache_hit_ratio: Gauge<f64, std::sync::atomic::AtomicU64>,
    cache_entries: Gauge,
    log_queue: Gauge,
    log_written: Counter,
    log_dropped: Counter,
    job_staleness: Family<JobLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    job_failures: Family<JobLabels, Counter>,
    job_successes: Family<JobLabels, Counter>,
    alerts_fired: Family<AlertLabels, Counter>,
}

impl Metrics {
    pub fn new() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.00005, 2.0, 18))
        });
        let (cache_hits, cache_misses, log_written, log_dropped) = (
            Counter::default(),
            Counter::default(),
            Counter::default(),
            Counter::default(),
        );
        let cache_hit_ratio = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        let (cache_entries, log_queue) = (Gauge::default(), Gauge::default());
        let mut registry = Registry::with_prefix("voidx");
        registry.register(
            "http_requests",
            "HTTP requests by route, status, model and version",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        registry.register("cache_hits", "prediction cache hits", cache_hits.clone());
        registry.register(
            "cache_misses",
            "prediction cache misses",
            cache_misses.clone(),
        );
        registry.register(
            "cache_hit_ratio",
            "hits / (hits + misses) since start",
            cache_hit_ratio.clone(),
        );
        registry.register(
            "cache_entries",
            "entries in the prediction cache",
            cache_entries.clone(),
        );
        registry.register(
            "prediction_log_queue_depth",
            "entries waiting to be written to voidx.predictions",
            log_queue.clone(),
        );
        registry.register(
            "prediction_log_written",
            "entries written to voidx.predictions",
            log_written.clone(),
        );
        registry.register(
            "prediction_log_dropped",
            "entries dropped (queue full or write failed)",
            log_dropped.clone(),
        );
        let job_staleness =
            Family::<JobLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        let job_failures = Family::<JobLabels, Counter>::default();
        let job_successes = Family::<JobLabels, Counter>::default();
        let alerts_fired = Family::<AlertLabels, Counter>::default();
        registry.register(
            "job_staleness_seconds",
            "seconds since the job's last success (since creation when none)",
            Family::clone(&job_staleness),
        );
        registry.register(
            "job_failures",
            "job runs whose last attempt failed",
            Family::clone(&job_failures),
        );
        registry.register(
            "job_successes",
            "job runs that succeeded",
            Family::clone(&job_successes),
        );
        registry.register(
            "alerts_fired",
            "alert firings since the server started",
            Family::clone(&alerts_fired),
        );
        Metrics {
            registry,
            job_staleness,
            job_failures,
            job_successes,
            alerts_fired,
            requests,
            latency,
            cache_hits,
            cache_misses,
            cache_hit_ratio,
            cache_entries,
            log_queue,
            log_written,
            log_dropped,
        }
    }
}

/// Counts and times every request.
pub async fn track(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    let (model, version) = response
        .extensions()
        .get::<ModelLabel>()
        .map_or((String::new(), String::new()), |l| {
            (l.model.clone(), l.version.clone())
        });
    let labels = RequestLabels {
        route,
        status: response.status().as_u16(),
        model,
        version,
    };
    state.metrics.requests.get_or_create(&labels).inc();
    state
        .metrics
        .latency
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

/// `GET /metrics`
pub async fn render(State(state): State<Arc<AppState>>) -> Response {
    let m = &state.metrics;
    // Counters mirror totals kept elsewhere: add the difference.
    let sync = |c: &Counter, total: u64| {
        let now = c.get();
        if total > now {
            c.inc_by(total - now);
        }
    };
    sync(&m.cache_hits, state.cache.hits());
    sync(&m.cache_misses, state.cache.misses());
    let (h, s) = (state.cache.hits(), state.cache.misses());
    m.cache_hit_ratio.set(if h + s > 0 {
        h as f64 / (h + s) as f64
    } else {
        0.0
    });
    m.cache_entries.set(state.cache.entries() as i64);
    if let Some(log) = &state.log {
        m.log_queue.set(log.queue_depth() as i64);
        sync(&m.log_written, log.written());
        sync(&m.log_dropped, log.dropped());
    }
    let monitor = &state.monitor;
    for job in monitor.job_health(crate::storage::catalog::now_ms()) {
        let labels = JobLabels { job: job.name };
        m.job_staleness
            .get_or_create(&labels)
            .set(job.staleness_seconds);
        sync(&m.job_failures.get_or_create(&labels), job.failures);
        sync(&m.job_successes.get_or_create(&labels), job.successes);
    }
    for (alert, fired) in monitor.alert_counts() {
        sync(&m.alerts_fired.get_or_create(&AlertLabels { alert }), fired);
    }
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &m.registry) {
        return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
