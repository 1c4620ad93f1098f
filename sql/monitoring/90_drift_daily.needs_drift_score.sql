-- Drift per feature per day of the demo model's live traffic: PSI of each
-- feature in voidx.predictions against the training reference of the
-- production version. Feature values are read from the logged request JSON
-- with regexp_match (no JSON functions are registered). drift_score takes
-- the model and the feature as text literals (they pick the reference once
-- per query), so each feature is its own aggregate, joined by UNION ALL.
-- Needs the aggregate drift_score(model, feature, value); loaders skip
-- `*.needs_<function>.sql` files when the function is missing
-- (sql/monitoring/load.sh does).
--   voidx sql -f sql/monitoring/90_drift_daily.needs_drift_score.sql
CREATE SCHEMA IF NOT EXISTS monitoring;

CREATE OR REPLACE VIEW monitoring.drift_daily AS
WITH f AS (
    SELECT date_trunc('day', ts) AS day, model,
           CAST((regexp_match(features, '"recency_days":\s*(-?[0-9.eE+-]+)'))[1] AS DOUBLE)    AS recency_days,
           CAST((regexp_match(features, '"frequency":\s*(-?[0-9.eE+-]+)'))[1] AS DOUBLE)       AS frequency,
           CAST((regexp_match(features, '"monetary":\s*(-?[0-9.eE+-]+)'))[1] AS DOUBLE)        AS monetary,
           CAST((regexp_match(features, '"avg_order_value":\s*(-?[0-9.eE+-]+)'))[1] AS DOUBLE) AS avg_order_value
    FROM voidx.predictions
    WHERE model = 'revenue_predictor'
)
SELECT day, model, 'recency_days' AS feature, count(*) AS rows,
       drift_score('revenue_predictor', 'recency_days', recency_days) AS psi
FROM f GROUP BY day, model
UNION ALL
SELECT day, model, 'frequency', count(*), drift_score('revenue_predictor', 'frequency', frequency)
FROM f GROUP BY day, model
UNION ALL
SELECT day, model, 'monetary', count(*), drift_score('revenue_predictor', 'monetary', monetary)
FROM f GROUP BY day, model
UNION ALL
SELECT day, model, 'avg_order_value', count(*), drift_score('revenue_predictor', 'avg_order_value', avg_order_value)
FROM f GROUP BY day, model;

COMMENT ON VIEW monitoring.drift_daily IS 'Drift per feature per day of the demo model''s live traffic: PSI of each logged feature against the training reference of the production version.';
