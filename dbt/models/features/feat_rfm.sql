-- Recency, frequency and monetary value over the whole history and over the 30/90/365 days
-- before the cutoff. Money and counts are completed orders; recency counts any order
-- (a returned or cancelled order still shows the customer is active).
SELECT customer_id,
       CAST(date_part('day', TIMESTAMP '2025-10-01 00:00:00' - max(order_ts)) AS DOUBLE)          AS recency_days,
       CAST(date_part('day', TIMESTAMP '2025-10-01 00:00:00' - min(order_ts)) AS DOUBLE)          AS first_order_days,
       count(*) FILTER (WHERE is_completed)                                                       AS frequency,
       count(*) FILTER (WHERE is_completed AND days_before_cutoff <= 30)                          AS frequency_30d,
       count(*) FILTER (WHERE is_completed AND days_before_cutoff <= 90)                          AS frequency_90d,
       count(*) FILTER (WHERE is_completed AND days_before_cutoff <= 365)                         AS frequency_365d,
       COALESCE(sum(total_amount) FILTER (WHERE is_completed), 0)                                 AS monetary,
       COALESCE(sum(total_amount) FILTER (WHERE is_completed AND days_before_cutoff <= 30), 0)    AS monetary_30d,
       COALESCE(sum(total_amount) FILTER (WHERE is_completed AND days_before_cutoff <= 90), 0)    AS monetary_90d,
       COALESCE(sum(total_amount) FILTER (WHERE is_completed AND days_before_cutoff <= 365), 0)   AS monetary_365d,
       COALESCE(sum(total_amount) FILTER (WHERE is_completed AND days_before_cutoff > 90
                                               AND days_before_cutoff <= 180), 0)                AS monetary_prior_90d,
       avg(total_amount) FILTER (WHERE is_completed)                                              AS avg_order_value,
       max(total_amount) FILTER (WHERE is_completed)                                              AS max_order_value
FROM {{ ref('feat_order_history') }}
GROUP BY customer_id
