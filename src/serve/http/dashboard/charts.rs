//! The dashboard's charts: one list, defined here and nowhere else. Each
//! chart is one fixed SQL query over the server's own tables; the browser
//! names a chart and a time range, never SQL. The list feeds
//! `GET /v1/dashboard`, `GET /v1/dashboard/{chart}` and the chart table of
//! docs/dashboard.md (a test fails when that table is stale).
//!
//! ```text
//! GET /v1/dashboard/predictions_per_minute?from=2026-12-01T00:00:00Z
//! → the SQL below with $from / $to / $span replaced by literals the server formats
//! ```

use serde::Serialize;

/// How the page draws a chart's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// First column the x axis (a time or a number), every further column a line.
    Line,
    /// Rows are (x, series, value): one line per distinct series.
    LineBySeries,
    /// First column x, second y: points, no lines.
    Scatter,
    /// Rows are (label, value): horizontal bars.
    Bar,
    /// Rows are (x, y, value): a grid of coloured cells.
    Heatmap,
    /// The rows as they are.
    Table,
}

/// One chart of the dashboard.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Chart {
    /// Stable id: `GET /v1/dashboard/{id}`, and the element id on the page.
    pub id: &'static str,
    /// The page (tab) it is on: business, models, serving, drift or pipelines.
    pub page: &'static str,
    pub title: &'static str,
    pub kind: Kind,
    /// The query, with `$from` and `$to` (TIMESTAMP literals) and `$span`
    /// (an INTERVAL literal: `$to - $from`) where the range applies.
    pub sql: &'static str,
    /// What to run to fill the chart when it has no rows.
    pub empty: &'static str,
}

/// The pages, in tab order, with a one-line description each.
pub const PAGES: &[(&str, &str, &str)] = &[
    (
        "business",
        "Business",
        "Revenue, orders and active customers (who placed an order) of the shop, from monitoring.daily_revenue (sql/monitoring) and shop.orders. The range ends at the last order in shop.orders, so the demo's history (2024-2025) shows whatever today's date is.",
    ),
    (
        "models",
        "Models",
        "The registry, what the production version relies on, and how its predictions compare with what customers then spent.",
    ),
    (
        "serving",
        "Serving",
        "Traffic, latency and cache of the REST shim, from the prediction log voidx.predictions.",
    ),
    (
        "drift",
        "Drift",
        "PSI of the live traffic's features against the training reference (monitoring.drift_daily), and what alerts fired.",
    ),
    (
        "pipelines",
        "Pipelines",
        "Ingest runs, scheduled jobs, their staleness and failures.",
    ),
];

const TRAFFIC: &str = "no predictions in this range. Help: POST /predict (docs/rest.md) with serve.log_predictions on (the default), then refresh";
const MONITORING_VIEWS: &str = "no rows. Help: the monitoring views come with `voidx serve --demo`; elsewhere load them with sql/monitoring/load.sh";

/// Every chart, in page order.
pub const CHARTS: &[Chart] = &[
    // --- business ---
    Chart {
        id: "revenue_daily",
        page: "business",
        title: "Revenue per day, with its 7-day trend",
        kind: Kind::Line,
        sql: "SELECT day, revenue,
       avg(revenue) OVER (ORDER BY day ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS trend_7d
FROM monitoring.daily_revenue
WHERE day > (SELECT max(day) FROM monitoring.daily_revenue) - $span
ORDER BY day",
        empty: MONITORING_VIEWS,
    },
    Chart {
        id: "orders_customers_weekly",
        page: "business",
        title: "Orders and active customers per week, with the orders' 4-week trend",
        kind: Kind::Line,
        sql: "SELECT week, orders, active_customers,
       avg(orders) OVER (ORDER BY week ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS orders_trend_4w
FROM (SELECT date_trunc('week', order_ts) AS week,
             count(*) FILTER (WHERE status = 'completed') AS orders,
             count(DISTINCT customer_id) AS active_customers
      FROM shop.orders
      WHERE order_ts > (SELECT max(order_ts) FROM shop.orders) - $span
      GROUP BY date_trunc('week', order_ts)) AS w
ORDER BY week",
        empty: "no orders in this range. Help: `voidx serve --demo` writes the demo shop (shop.orders)",
    },
    Chart {
        id: "revenue_by_segment",
        page: "business",
        title: "Completed revenue per week by customer segment",
        kind: Kind::LineBySeries,
        sql: "SELECT date_trunc('week', o.order_ts) AS week, c.segment, sum(o.total_amount) AS revenue
FROM shop.orders o JOIN shop.customers c ON c.customer_id = o.customer_id
WHERE o.status = 'completed'
  AND o.order_ts > (SELECT max(order_ts) FROM shop.orders) - $span
GROUP BY date_trunc('week', o.order_ts), c.segment
ORDER BY week, c.segment",
        empty: "no orders in this range. Help: `voidx serve --demo` writes the demo shop (shop.orders, shop.customers)",
    },
    Chart {
        id: "revenue_by_channel",
        page: "business",
        title: "Completed revenue by order channel",
        kind: Kind::Bar,
        sql: "SELECT channel, sum(total_amount) AS revenue
FROM shop.orders
WHERE status = 'completed'
  AND order_ts > (SELECT max(order_ts) FROM shop.orders) - $span
GROUP BY channel
ORDER BY revenue DESC",
        empty: "no orders in this range. Help: `voidx serve --demo` writes the demo shop (shop.orders)",
    },
    // --- models ---
    Chart {
        id: "model_registry",
        page: "models",
        title: "Registry: versions, stages, CV against the baseline, A/B shares",
        kind: Kind::Table,
        sql: "SELECT name, version, stage, traffic_share, metric,
       round(cv_mean, 2) AS cv, round(baseline, 2) AS baseline, round(improvement, 3) AS improvement,
       rows, created_at
FROM voidx.models
ORDER BY name, version",
        empty: "no models yet. Help: SELECT * FROM train('m', 'SELECT * FROM t', 'y', '{\"cv_folds\": 5}')",
    },
    Chart {
        id: "cv_vs_baseline",
        page: "models",
        title: "Improvement of the CV score over the baseline, per version",
        kind: Kind::Bar,
        sql: "SELECT name || ' v' || CAST(version AS VARCHAR) || ' (' || stage || ')' AS model_version,
       round(improvement, 3) AS improvement
FROM voidx.models
WHERE improvement IS NOT NULL
ORDER BY name, version",
        empty: "no trained versions with a baseline. Help: train(...) with cv_folds > 0",
    },
    Chart {
        id: "traffic_shares",
        page: "models",
        title: "A/B traffic shares of the REST shim",
        kind: Kind::Bar,
        sql: "SELECT name || ' v' || CAST(version AS VARCHAR) AS model_version, traffic_share
FROM voidx.models
WHERE traffic_share > 0
ORDER BY name, version",
        empty: "no version takes traffic. Help: SELECT * FROM deploy('m', 1), or ab_split('m', '{\"1\": 0.9, \"2\": 0.1}')",
    },
    Chart {
        id: "feature_importance",
        page: "models",
        title: "Feature importance of the production versions (mean |SHAP|, top 15)",
        kind: Kind::Bar,
        sql: "SELECT i.model || '.' || i.feature AS feature, i.mean_abs_shap
FROM voidx.feature_importance i
JOIN voidx.models m ON m.name = i.model AND m.version = i.version
WHERE m.stage = 'production'
ORDER BY i.mean_abs_shap DESC
LIMIT 15",
        empty: "no production version. Help: train(...) promotes a first version; deploy('m', n) another",
    },
    Chart {
        id: "predicted_vs_actual",
        page: "models",
        title: "revenue_predictor: predicted against actual revenue of the next 90 days",
        kind: Kind::Scatter,
        sql: "SELECT f.revenue_next_90d AS actual, p.prediction AS predicted
FROM voidx.predictions p
JOIN features.customer_revenue_v2 f ON p.customer_id = CAST(f.customer_id AS VARCHAR)
WHERE p.model = 'revenue_predictor' AND p.ts BETWEEN $from AND $to
ORDER BY actual, predicted",
        empty: "no logged predictions of demo customers in this range. Help: POST /predict with a customer_id of features.customer_revenue_v2 and its features",
    },
    Chart {
        id: "model_rmse",
        page: "models",
        title: "revenue_predictor: RMSE per day and version on known outcomes (model_performance)",
        kind: Kind::LineBySeries,
        sql: "SELECT period, 'v' || CAST(version AS VARCHAR) AS version, rmse
FROM model_performance('revenue_predictor',
  'SELECT customer_id, revenue_next_90d FROM features.customer_revenue_v2',
  '{\"label\": \"revenue_next_90d\", \"period\": \"day\", \"bootstrap\": 0}')
WHERE scope = 'period' AND period BETWEEN date_trunc('day', $from) AND $to
ORDER BY period, version",
        empty: "no logged predictions with known outcomes. Help: POST /predict with a customer_id of features.customer_revenue_v2",
    },
    Chart {
        id: "interval_coverage",
        page: "models",
        title: "revenue_predictor: share of actuals inside the logged interval, per hour",
        kind: Kind::Line,
        sql: "SELECT date_trunc('hour', p.ts) AS hour,
       avg(CASE WHEN f.revenue_next_90d BETWEEN p.interval_lower AND p.interval_upper THEN 1.0 ELSE 0.0 END) AS coverage
FROM voidx.predictions p
JOIN features.customer_revenue_v2 f ON p.customer_id = CAST(f.customer_id AS VARCHAR)
WHERE p.model = 'revenue_predictor' AND p.interval_lower IS NOT NULL AND p.ts BETWEEN $from AND $to
GROUP BY date_trunc('hour', p.ts)
ORDER BY hour",
        empty: "no logged intervals of demo customers. Help: POST /predict with a customer_id of features.customer_revenue_v2",
    },
    // --- serving ---
    Chart {
        id: "predictions_per_minute",
        page: "serving",
        title: "Predictions per minute",
        kind: Kind::Line,
        sql: "SELECT date_trunc('minute', ts) AS minute, count(*) AS predictions
FROM voidx.predictions
WHERE ts BETWEEN $from AND $to
GROUP BY date_trunc('minute', ts)
ORDER BY minute",
        empty: TRAFFIC,
    },
    Chart {
        id: "latency",
        page: "serving",
        title: "Latency per minute: p50 and p99 (ms)",
        kind: Kind::Line,
        sql: "SELECT date_trunc('minute', ts) AS minute,
       approx_percentile_cont(latency_ms, 0.5) AS p50_ms,
       approx_percentile_cont(latency_ms, 0.99) AS p99_ms
FROM voidx.predictions
WHERE ts BETWEEN $from AND $to
GROUP BY date_trunc('minute', ts)
ORDER BY minute",
        empty: TRAFFIC,
    },
    Chart {
        id: "cache_hit_rate",
        page: "serving",
        title: "Cache hit rate per minute",
        kind: Kind::Line,
        sql: "SELECT date_trunc('minute', ts) AS minute,
       CAST(count(*) FILTER (WHERE cached) AS DOUBLE) / count(*) AS hit_rate
FROM voidx.predictions
WHERE ts BETWEEN $from AND $to
GROUP BY date_trunc('minute', ts)
ORDER BY minute",
        empty: TRAFFIC,
    },
    Chart {
        id: "predictions_by_version",
        page: "serving",
        title: "Predictions by model version",
        kind: Kind::Bar,
        sql: "SELECT model || ' v' || CAST(version AS VARCHAR) AS model_version, count(*) AS predictions
FROM voidx.predictions
WHERE ts BETWEEN $from AND $to
GROUP BY model, version
ORDER BY predictions DESC",
        empty: TRAFFIC,
    },
    // --- drift ---
    Chart {
        id: "psi_heatmap",
        page: "drift",
        title: "PSI per feature and day of the live traffic (revenue_predictor)",
        kind: Kind::Heatmap,
        sql: "SELECT day, feature, psi
FROM monitoring.drift_daily
WHERE day BETWEEN date_trunc('day', $from) AND $to
ORDER BY day, feature",
        empty: "no logged predictions of revenue_predictor in this range. Help: POST /predict; the view is sql/monitoring/90_drift_daily.needs_drift_score.sql",
    },
    Chart {
        id: "drift_status",
        page: "drift",
        title: "Current drift status per feature (latest day; warn ≥ 0.1, alert ≥ 0.25)",
        kind: Kind::Table,
        sql: "SELECT feature, round(psi, 4) AS psi, rows,
       CASE WHEN psi >= 0.25 THEN 'alert' WHEN psi >= 0.1 THEN 'warn' ELSE 'ok' END AS status
FROM monitoring.drift_daily
WHERE day = (SELECT max(day) FROM monitoring.drift_daily)
ORDER BY psi DESC",
        empty: "no logged predictions of revenue_predictor. Help: POST /predict, then SELECT * FROM drift_report(...) for every feature",
    },
    Chart {
        id: "alert_history",
        page: "drift",
        title: "Alert history",
        kind: Kind::Table,
        sql: "SELECT ts, name, status, rows, detail
FROM voidx.alerts
WHERE ts BETWEEN $from AND $to
ORDER BY ts DESC
LIMIT 100",
        empty: "no alerts in this range. Help: SELECT * FROM create_alert('name', 'SELECT … WHERE something is wrong', '{\"every\": \"5m\"}')",
    },
    // --- pipelines ---
    Chart {
        id: "ingest_runs",
        page: "pipelines",
        title: "Ingest runs",
        kind: Kind::Table,
        sql: "SELECT started_at, target, mode, status, rows_read, rows_written, rows_quarantined, duration_ms, error
FROM voidx.ingest_runs
WHERE started_at BETWEEN $from AND $to
ORDER BY started_at DESC
LIMIT 100",
        empty: "no ingest runs in this range. Help: SELECT * FROM ingest('raw.t', 'SELECT * FROM source', '{\"mode\": \"append\"}')",
    },
    Chart {
        id: "ingest_rows",
        page: "pipelines",
        title: "Rows written and quarantined by ingest, per hour",
        kind: Kind::Line,
        sql: "SELECT date_trunc('hour', started_at) AS hour,
       sum(rows_written) AS rows_written, sum(rows_quarantined) AS rows_quarantined
FROM voidx.ingest_runs
WHERE started_at BETWEEN $from AND $to
GROUP BY date_trunc('hour', started_at)
ORDER BY hour",
        empty: "no ingest runs in this range. Help: SELECT * FROM ingest(...)",
    },
    Chart {
        id: "job_health",
        page: "pipelines",
        title: "Jobs: last success, staleness and failures",
        kind: Kind::Table,
        sql: "SELECT j.name, j.schedule,
       max(r.ended_at) FILTER (WHERE r.status = 'success') AS last_success,
       CAST(date_part('epoch', now()) - date_part('epoch', max(r.ended_at) FILTER (WHERE r.status = 'success')) AS BIGINT) AS staleness_s,
       count(r.job) FILTER (WHERE r.status = 'success') AS successes,
       count(r.job) FILTER (WHERE r.status = 'failed') AS failures
FROM voidx.jobs j LEFT JOIN voidx.job_runs r ON r.job = j.name
GROUP BY j.name, j.schedule
ORDER BY j.name",
        empty: "no jobs. Help: SELECT * FROM create_job('name', 'SELECT * FROM ingest(...)', '{\"every\": \"15m\"}')",
    },
    Chart {
        id: "job_runs",
        page: "pipelines",
        title: "Job runs (every attempt)",
        kind: Kind::Table,
        sql: "SELECT started_at, job, trigger, attempt, status, rows, error
FROM voidx.job_runs
WHERE started_at BETWEEN $from AND $to
ORDER BY started_at DESC
LIMIT 100",
        empty: "no job runs in this range. Help: SELECT * FROM run_job('name'), or wait for its schedule",
    },
];

/// The chart with this id.
pub fn find(id: &str) -> Option<&'static Chart> {
    CHARTS.iter().find(|c| c.id == id)
}

/// A time range in milliseconds since the Unix epoch, `from <= to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from_ms: i64,
    pub to_ms: i64,
}

/// `2026-12-01T20:00:00.000Z`: the form `TIMESTAMP '…'` reads as UTC.
fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

impl Chart {
    /// The statement to run: the placeholders become literals formatted
    /// here from two integers, so no text of the request reaches the SQL.
    pub fn sql_for(&self, range: Range) -> String {
        let span_s = (range.to_ms - range.from_ms).max(0) / 1000;
        self.sql
            .replace("$from", &format!("TIMESTAMP '{}'", iso(range.from_ms)))
            .replace("$to", &format!("TIMESTAMP '{}'", iso(range.to_ms)))
            .replace("$span", &format!("INTERVAL '{span_s} seconds'"))
    }
}

/// The chart table of docs/dashboard.md, generated from [`CHARTS`] (by the
/// staleness test below).
#[cfg(test)]
pub fn markdown() -> String {
    let mut out = String::new();
    for (page, title, about) in PAGES {
        out.push_str(&format!("### {title}\n\n{about}\n\n"));
        for c in CHARTS.iter().filter(|c| c.page == *page) {
            out.push_str(&format!(
                "#### {} (`{}`, {})\n\n```sql\n{}\n```\n\nEmpty: {}\n\n",
                c.title,
                c.id,
                serde_json::to_value(c.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                c.sql,
                c.empty
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_pages_known() {
        for (i, c) in CHARTS.iter().enumerate() {
            assert!(
                CHARTS[..i].iter().all(|o| o.id != c.id),
                "duplicate {}",
                c.id
            );
            assert!(PAGES.iter().any(|(p, _, _)| *p == c.page), "{}", c.id);
            assert!(
                c.id.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{}",
                c.id
            );
        }
        for (p, _, _) in PAGES {
            assert!(CHARTS.iter().any(|c| c.page == *p), "page {p} has no chart");
        }
    }

    #[test]
    fn placeholders_become_literals() {
        let chart = find("predictions_per_minute").unwrap();
        let sql = chart.sql_for(Range {
            from_ms: 0,
            to_ms: 86_400_000,
        });
        assert!(
            sql.contains("ts BETWEEN TIMESTAMP '1970-01-01T00:00:00.000Z' AND TIMESTAMP '1970-01-02T00:00:00.000Z'"),
            "{sql}"
        );
        assert!(!sql.contains('$'));
        let span = find("revenue_daily").unwrap().sql_for(Range {
            from_ms: 1_000,
            to_ms: 8_000,
        });
        assert!(span.contains("- INTERVAL '7 seconds'"), "{span}");
    }

    #[test]
    fn dashboard_doc_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/dashboard.md");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        let (begin, end) = ("<!-- charts:begin -->\n", "<!-- charts:end -->");
        let (Some(b), Some(e)) = (on_disk.find(begin), on_disk.find(end)) else {
            panic!("docs/dashboard.md lacks the {begin} … {end} markers");
        };
        let current = &on_disk[b + begin.len()..e];
        let generated = markdown();
        if std::env::var_os("VOIDX_UPDATE_DOCS").is_some() && current != generated {
            let updated = format!(
                "{}{generated}{}",
                &on_disk[..b + begin.len()],
                &on_disk[e..]
            );
            std::fs::write(path, updated).expect("write docs/dashboard.md");
            return;
        }
        assert!(
            current == generated,
            "docs/dashboard.md is stale: VOIDX_UPDATE_DOCS=1 cargo test -p voidx --lib dashboard_doc"
        );
    }
}
