-- Serving volume: predictions per model version per day (voidx.predictions,
-- written by the REST shim when serve.log_predictions is on).
--   voidx sql -f sql/monitoring/02_predictions_daily.sql
CREATE SCHEMA IF NOT EXISTS monitoring;

CREATE OR REPLACE VIEW monitoring.predictions_daily AS
SELECT date_trunc('day', ts)   AS day,
       model,
       version,
       count(*)                AS predictions,
       count(DISTINCT customer_id) AS customers,
       avg(prediction)         AS avg_prediction
FROM voidx.predictions
GROUP BY date_trunc('day', ts), model, version;

COMMENT ON VIEW monitoring.predictions_daily IS 'Serving volume: predictions per model version per day (voidx.predictions, written by the REST shim when serve.log_predictions is on).';
