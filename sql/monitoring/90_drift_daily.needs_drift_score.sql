-- Drift per feature per day of the demo model's live traffic: PSI of each
-- feature in voidx.predictions against the training reference of the
-- production version. Feature values are read from the logged request JSON
-- with regexp_match (no JSON functions are registered). Needs the aggregate drift_score(model, feature, value);
-- loaders skip `*.needs_<function>.sql` files when the function is missing
-- (sql/monitoring/load.sh does).
--   voidx sql -f sql/monitoring/90_drift_daily.needs_drift_score.sql
CREATE SCHEMA IF NOT EXISTS monitoring;

CREATE OR REPLACE VIEW monitoring.drift_daily AS
WITH features AS (
    SELECT date_trunc('day', ts) AS day, model, features
    FROM voidx.predictions
    WHERE model = 'revenue_predictor'
), long AS (
    SELECT day, model, 'recency_days' AS feature,
           CAST((regexp_match(features, '"recency_days":\s*(-?[0-9.eE+-]+)'))[1] AS DOUBLE) AS value FROM features
    UNION ALL
    SELECT day, model, 'frequency', CAST((regexp_match(features, '"frequency":\s*(-?[0-9.eE+-]+)'))[1] AS DOUBLE) FROM features
    UNION ALL
    SELECT day, model, 'monetary', CAST((regexp_match(features, '"monetary":\s*(-?[0-9.eE+-]+)'))[1] AS DOUBLE) FROM features
    UNION ALL
    SELECT day, model, 'avg_order_value', CAST((regexp_match(features, '"avg_order_value":\s*(-?[0-9.eE+-]+)'))[1] AS DOUBLE) FROM features
)
SELECT day, model, feature, count(*) AS rows, drift_score(model, feature, value) AS psi
FROM long
GROUP BY day, model, feature;
