-- Channel mix, discount and return behaviour, and seasonality of the orders before the
-- cutoff. Shares are of all orders (any status) unless they say spend.
SELECT customer_id,
       CAST(count(*) FILTER (WHERE order_channel = 'web') AS DOUBLE) / count(*)                 AS share_web,
       CAST(count(*) FILTER (WHERE order_channel = 'mobile_app') AS DOUBLE) / count(*)          AS share_mobile_app,
       CAST(count(*) FILTER (WHERE order_channel = 'marketplace') AS DOUBLE) / count(*)         AS share_marketplace,
       CAST(count(*) FILTER (WHERE order_channel = 'phone') AS DOUBLE) / count(*)               AS share_phone,
       count(DISTINCT order_channel)                                                           AS distinct_order_channels,
       avg(discount_pct)                                                                       AS avg_discount_pct,
       CAST(count(*) FILTER (WHERE discount_pct > 0) AS DOUBLE) / count(*)                      AS discounted_order_share,
       count(*) FILTER (WHERE status = 'returned')                                             AS returns,
       CAST(count(*) FILTER (WHERE status = 'returned') AS DOUBLE) / count(*)                   AS return_rate,
       CAST(count(*) FILTER (WHERE status = 'cancelled') AS DOUBLE) / count(*)                  AS cancel_rate,
       -- dow: 0 = Sunday, 6 = Saturday
       CAST(count(*) FILTER (WHERE order_dow IN (0, 6)) AS DOUBLE) / count(*)                   AS weekend_order_share,
       CAST(count(*) FILTER (WHERE order_hour >= 18) AS DOUBLE) / count(*)                      AS evening_order_share,
       COALESCE(sum(total_amount) FILTER (WHERE is_completed AND order_month_of_year >= 10), 0)
         / NULLIF(sum(total_amount) FILTER (WHERE is_completed), 0)                            AS q4_spend_share,
       -- the target's window one year earlier: 2024-10-01 .. 2024-12-29
       COALESCE(sum(total_amount) FILTER (WHERE is_completed AND days_before_cutoff > 275
                                               AND days_before_cutoff <= 365), 0)             AS monetary_last_year_window
FROM {{ ref('feat_order_history') }}
GROUP BY customer_id
