-- Serving latency percentiles per model per day, and the cache hit rate
-- (cached answers over all answers) from voidx.predictions.
--   voidx sql -f sql/monitoring/03_latency.sql
CREATE SCHEMA IF NOT EXISTS monitoring;

CREATE OR REPLACE VIEW monitoring.latency_daily AS
SELECT date_trunc('day', ts)                                   AS day,
       model,
       count(*)                                                AS predictions,
       approx_percentile_cont(latency_ms, 0.5)                 AS p50_ms,
       approx_percentile_cont(latency_ms, 0.95)                AS p95_ms,
       approx_percentile_cont(latency_ms, 0.99)                AS p99_ms,
       max(latency_ms)                                         AS max_ms
FROM voidx.predictions
GROUP BY date_trunc('day', ts), model;

CREATE OR REPLACE VIEW monitoring.cache_hit_rate AS
SELECT date_trunc('day', ts)                                   AS day,
       model,
       count(*)                                                AS predictions,
       count(*) FILTER (WHERE cached)                          AS cache_hits,
       CAST(count(*) FILTER (WHERE cached) AS DOUBLE) / count(*) AS hit_rate
FROM voidx.predictions
GROUP BY date_trunc('day', ts), model;

COMMENT ON VIEW monitoring.latency_daily IS 'Serving latency percentiles per model per day, from voidx.predictions.';
COMMENT ON VIEW monitoring.cache_hit_rate IS 'Cached answers over all answers per model per day, from voidx.predictions.';
