-- Order cadence: gaps between consecutive orders (any status) before the cutoff, and how
-- overdue the customer is against their own rhythm.
WITH gaps AS (
    SELECT customer_id,
           days_before_cutoff,
           order_epoch_day - lag(order_epoch_day) OVER (PARTITION BY customer_id ORDER BY order_ts, order_id) AS gap_days,
           row_number() OVER (PARTITION BY customer_id ORDER BY order_ts DESC, order_id DESC)             AS newest_first
    FROM {{ ref('feat_order_history') }}
)
SELECT customer_id,
       avg(gap_days)                                                   AS mean_gap_days,
       stddev_samp(gap_days)                                           AS std_gap_days,
       max(gap_days)                                                   AS max_gap_days,
       max(gap_days) FILTER (WHERE newest_first = 1)                   AS last_gap_days,
       min(days_before_cutoff) / NULLIF(avg(gap_days), 0)              AS overdue_ratio,
       count(*) / (max(days_before_cutoff) / 30.4375 + 1)              AS orders_per_month
FROM gaps
GROUP BY customer_id
