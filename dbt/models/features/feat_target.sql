-- The label: completed revenue in the 90 days after the cutoff (2025-10-01 .. 2025-12-29).
SELECT customer_id, sum(total_amount) AS revenue_next_90d
FROM {{ ref('stg_orders') }}
WHERE is_completed
  AND order_ts >= TIMESTAMP '2025-10-01 00:00:00'
  AND order_ts <  TIMESTAMP '2025-12-30 00:00:00'
GROUP BY customer_id
