-- Feature view for the demo model `revenue_predictor`: one row per customer
-- who signed up before the cutoff (2025-10-01), features from history before
-- it, and the target `revenue_next_90d` (completed revenue in the 90 days
-- after). See docs/data-dictionary.md. Run with:
--   voidx sql -f sql/features/customer_revenue.sql
CREATE SCHEMA IF NOT EXISTS features;

CREATE OR REPLACE VIEW features.customer_revenue AS
WITH o AS (
    SELECT customer_id,
           count(*) FILTER (WHERE status = 'completed')                          AS frequency,
           COALESCE(sum(total_amount) FILTER (WHERE status = 'completed'), 0)    AS monetary,
           avg(total_amount) FILTER (WHERE status = 'completed')                 AS avg_order_value,
           count(*) FILTER (WHERE status = 'returned')                           AS returns,
           COALESCE(sum(total_amount) FILTER (WHERE status = 'completed'
                    AND order_ts >= TIMESTAMP '2025-07-03 00:00:00'), 0)         AS monetary_90d,
           max(order_ts)                                                         AS last_order
    FROM shop.orders
    WHERE order_ts < TIMESTAMP '2025-10-01 00:00:00'
    GROUP BY customer_id
), t AS (
    SELECT customer_id,
           count(*) FILTER (WHERE clicked)                                       AS clicks,
           count(*) FILTER (WHERE clicked AND touch_ts >= TIMESTAMP '2025-07-03 00:00:00') AS clicks_90d
    FROM shop.marketing_touches
    WHERE touch_ts < TIMESTAMP '2025-10-01 00:00:00'
    GROUP BY customer_id
), y AS (
    SELECT customer_id, sum(total_amount) AS revenue
    FROM shop.orders
    WHERE status = 'completed'
      AND order_ts >= TIMESTAMP '2025-10-01 00:00:00'
      AND order_ts <  TIMESTAMP '2025-12-30 00:00:00'
    GROUP BY customer_id
)
SELECT c.customer_id,
       CAST(DATE '2025-10-01' - c.signup_date AS BIGINT)                         AS tenure_days,
       CAST(date_part('day', TIMESTAMP '2025-10-01 00:00:00' - o.last_order) AS DOUBLE) AS recency_days,
       COALESCE(o.frequency, 0)                                                  AS frequency,
       COALESCE(o.monetary, 0)                                                   AS monetary,
       o.avg_order_value,
       COALESCE(o.monetary_90d, 0)                                               AS monetary_90d,
       COALESCE(o.returns, 0)                                                    AS returns,
       COALESCE(t.clicks, 0)                                                     AS clicks,
       COALESCE(t.clicks_90d, 0)                                                 AS clicks_90d,
       c.age,
       c.is_newsletter,
       COALESCE(y.revenue, 0)                                                    AS revenue_next_90d
FROM shop.customers c
LEFT JOIN o ON o.customer_id = c.customer_id
LEFT JOIN t ON t.customer_id = c.customer_id
LEFT JOIN y ON y.customer_id = c.customer_id
WHERE c.signup_date < DATE '2025-10-01';
