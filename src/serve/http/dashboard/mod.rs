//! The web dashboard: a page at `GET /` (HTML, CSS, JS and the vendored
//! uPlot, all embedded in the binary) and its two data endpoints,
//! `GET /v1/dashboard` (the chart list, each chart's SQL included) and
//! `GET /v1/dashboard/{chart}?from=&to=` (that chart's rows). The browser
//! names a chart; the SQL is the server's own ([`charts::CHARTS`]) and runs
//! as the requesting principal ([`principal`]). docs/dashboard.md.
//!
//! ```text
//! curl -s localhost:8080/v1/dashboard/latency?from=2026-12-01T00:00:00Z
//! ```

pub mod charts;
pub(super) mod principal;
mod rows;

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::api::ApiError;
use crate::engine::Output;
use charts::{Chart, Kind, Range};
pub use principal::Logins;
use rows::Column;

const INDEX: &str = include_str!("index.html");
const APP_JS: &str = include_str!("app.js");
const STYLE: &str = include_str!("style.css");
const UPLOT_JS: &str = include_str!("vendor/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("vendor/uPlot.min.css");
const UPLOT_LICENSE: &str = include_str!("vendor/uPlot.LICENSE");

/// Scripts and styles come from this server only, and nothing may frame
/// the page: text from the data can never run as script.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response
}

/// `GET /`: the page. It needs no credential; its data does.
pub async fn page() -> Response {
    asset("text/html; charset=utf-8", INDEX)
}

/// `GET /dashboard/{file}`: the page's scripts and styles.
pub async fn static_file(Path(file): Path<String>) -> Response {
    match file.as_str() {
        "app.js" => asset("text/javascript; charset=utf-8", APP_JS),
        "style.css" => asset("text/css; charset=utf-8", STYLE),
        "uPlot.iife.min.js" => asset("text/javascript; charset=utf-8", UPLOT_JS),
        "uPlot.min.css" => asset("text/css; charset=utf-8", UPLOT_CSS),
        "uPlot.LICENSE" => asset("text/plain; charset=utf-8", UPLOT_LICENSE),
        _ => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such dashboard file. Help: open / for the dashboard",
        )
        .into_response(),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page {
    pub id: &'static str,
    pub title: &'static str,
    pub about: &'static str,
}

/// `GET /v1/dashboard`: the pages and every chart with its SQL.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DashboardList {
    pub pages: Vec<Page>,
    pub charts: Vec<Chart>,
}

/// `GET /v1/dashboard/{chart}`: the rows of one chart.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChartData {
    pub chart: &'static str,
    pub title: &'static str,
    pub kind: Kind,
    /// The statement that ran: the chart's SQL with the range filled in.
    pub sql: String,
    /// The range, RFC 3339 (UTC).
    pub from: String,
    pub to: String,
    pub columns: Vec<Column>,
    /// One array per row, in `columns` order; times in ms since the epoch.
    /// Cells are numbers, text, booleans or null.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// What to run when `rows` is empty.
    pub empty: &'static str,
    pub elapsed_ms: f64,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct RangeQuery {
    /// Start of the range: RFC 3339 (`2026-12-01T00:00:00Z`) or ms since the epoch. Default: the epoch (everything).
    pub from: Option<String>,
    /// End of the range, the same forms. Default: now.
    pub to: Option<String>,
}

fn invalid(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", message)
}

fn parse_time(name: &str, text: &str) -> Result<i64, ApiError> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            invalid(format!(
                "{name}={text:?} is not a time ({e}). Help: use RFC 3339 (2026-12-01T00:00:00Z) or milliseconds since the epoch"
            ))
        })
}

/// The range of a request; `now_ms` when `to` is not given.
fn range_of(query: &RangeQuery, now_ms: i64) -> Result<Range, ApiError> {
    let from_ms = match &query.from {
        Some(t) => parse_time("from", t)?,
        None => 0,
    };
    let to_ms = match &query.to {
        Some(t) => parse_time("to", t)?,
        None => now_ms,
    };
    // Years 0..=9999: what a TIMESTAMP literal can say.
    const MAX_MS: i64 = 253_402_300_799_999;
    let known = |ms: i64| (-62_167_219_200_000..=MAX_MS).contains(&ms);
    if !known(from_ms) || !known(to_ms) || from_ms > to_ms {
        return Err(invalid(format!(
            "the range from {from_ms} to {to_ms} ms is not one: from must not be after to, both within years 0..9999. Help: ?from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z"
        )));
    }
    Ok(Range { from_ms, to_ms })
}

/// The chart list.
#[utoipa::path(
    get,
    path = "/v1/dashboard",
    responses(
        (status = 200, description = "The dashboard's pages and charts, each with its SQL", body = DashboardList),
        (status = 401, description = "A key or login is configured and none (or a wrong one) was sent", body = super::api::ErrorBody),
        (status = 403, description = "The API key is limited to some models", body = super::api::ErrorBody),
    )
)]
pub async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(refusal) = principal::session(&state.keys, &state.logins, &headers) {
        return refusal.into_response();
    }
    Json(DashboardList {
        pages: charts::PAGES
            .iter()
            .map(|(id, title, about)| Page { id, title, about })
            .collect(),
        charts: charts::CHARTS.to_vec(),
    })
    .into_response()
}

/// One chart's rows over a time range.
#[utoipa::path(
    get,
    path = "/v1/dashboard/{chart}",
    params(("chart" = String, Path, description = "A chart id of GET /v1/dashboard"), RangeQuery),
    responses(
        (status = 200, description = "The chart's rows", body = ChartData),
        (status = 400, description = "A bad time range", body = super::api::ErrorBody),
        (status = 401, description = "A key or login is configured and none (or a wrong one) was sent", body = super::api::ErrorBody),
        (status = 403, description = "The API key is limited to some models, or the login may not read a table", body = super::api::ErrorBody),
        (status = 404, description = "No such chart, or a table it reads does not exist here", body = super::api::ErrorBody),
        (status = 422, description = "The chart's query failed on this server's data", body = super::api::ErrorBody),
        (status = 500, description = "An internal error while running the chart's query", body = super::api::ErrorBody),
        (status = 503, description = "Slower than serve.request_timeout_ms", body = super::api::ErrorBody),
        (status = 504, description = "Slower than the statement timeout", body = super::api::ErrorBody),
    )
)]
pub async fn data(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    query: Result<Query<RangeQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let mut session = match principal::session(&state.keys, &state.logins, &headers) {
        Ok(s) => s,
        Err(refusal) => return refusal.into_response(),
    };
    let Some(chart) = charts::find(&id) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "chart_not_found",
            format!("no dashboard chart '{id}'. Help: GET /v1/dashboard lists them"),
        )
        .into_response();
    };
    let query = match query {
        Ok(Query(q)) => q,
        Err(e) => {
            return invalid(format!(
                "{}. Help: the parameters are from and to",
                e.body_text()
            ))
            .into_response();
        }
    };
    let range = match range_of(&query, crate::storage::catalog::now_ms()) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match run(&state, &mut session, chart, range).await {
        Ok(data) => Json(data).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn run(
    state: &AppState,
    session: &mut crate::engine::Session,
    chart: &'static Chart,
    range: Range,
) -> crate::error::Result<ChartData> {
    let started = Instant::now();
    let sql = chart.sql_for(range);
    let engine = &state.engine;
    let mut columns = Vec::new();
    let mut rows = Vec::new();
    for stmt in engine.parse(&sql)? {
        if let Output::Rows(stream) = engine.execute_in(session, &stmt, None, None).await? {
            let schema = stream.schema();
            let batches: Vec<_> = futures::TryStreamExt::try_collect(stream).await?;
            (columns, rows) = rows::to_json(&schema, &batches)?;
        }
    }
    let iso = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    Ok(ChartData {
        chart: chart.id,
        title: chart.title,
        kind: chart.kind,
        sql,
        from: iso(range.from_ms),
        to: iso(range.to_ms),
        columns,
        rows,
        empty: chart.empty,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(from: Option<&str>, to: Option<&str>) -> RangeQuery {
        RangeQuery {
            from: from.map(str::to_string),
            to: to.map(str::to_string),
        }
    }

    #[test]
    fn ranges() {
        let r = range_of(&q(None, None), 5_000).unwrap();
        assert_eq!((r.from_ms, r.to_ms), (0, 5_000));
        let r = range_of(&q(Some("1970-01-01T00:00:01Z"), Some("2000")), 0).unwrap();
        assert_eq!((r.from_ms, r.to_ms), (1_000, 2_000));
        assert!(range_of(&q(Some("3000"), Some("2000")), 0).is_err());
        assert!(range_of(&q(Some("yesterday"), None), 0).is_err());
        assert!(range_of(&q(Some("'; DROP TABLE t; --"), None), 0).is_err());
        assert!(range_of(&q(Some(&i64::MIN.to_string()), None), 0).is_err());
    }
}
