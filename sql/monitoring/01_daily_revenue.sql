-- Business metric: revenue per day from the demo shop (`voidx demo` / `serve --demo`).
-- Completed orders only; returns and cancellations are counted separately.
--   voidx sql -f sql/monitoring/01_daily_revenue.sql
CREATE SCHEMA IF NOT EXISTS monitoring;

CREATE OR REPLACE VIEW monitoring.daily_revenue AS
SELECT date_trunc('day', order_ts)                                 AS day,
       count(*) FILTER (WHERE status = 'completed')                 AS orders,
       COALESCE(sum(total_amount) FILTER (WHERE status = 'completed'), 0) AS revenue,
       avg(total_amount) FILTER (WHERE status = 'completed')        AS avg_order_value,
       count(*) FILTER (WHERE status = 'returned')                  AS returned_orders,
       count(*) FILTER (WHERE status = 'cancelled')                 AS cancelled_orders,
       count(DISTINCT customer_id)                                  AS customers
FROM shop.orders
GROUP BY date_trunc('day', order_ts);

COMMENT ON VIEW monitoring.daily_revenue IS 'Business metric: revenue per day of the demo shop. Completed orders only; returns and cancellations are counted separately.';
COMMENT ON SCHEMA monitoring IS 'Business-metric, serving and pipeline-health views that the dashboard reads (sql/monitoring, docs/dashboard.md).';
