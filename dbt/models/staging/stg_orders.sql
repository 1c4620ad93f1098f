-- One row per order, with the calendar parts the seasonality features need.
-- order_epoch_day is fractional days since 1970-01-01, so gaps between orders are subtractions.
SELECT order_id,
       customer_id,
       order_ts,
       CAST(order_ts AS DATE)                                   AS order_date,
       date_trunc('month', order_ts)                            AS order_month,
       date_part('epoch', order_ts) / 86400.0                   AS order_epoch_day,
       CAST(date_part('dow', order_ts) AS INT)                  AS order_dow,
       CAST(date_part('hour', order_ts) AS INT)                 AS order_hour,
       CAST(date_part('month', order_ts) AS INT)                AS order_month_of_year,
       channel AS order_channel,
       status,
       status = 'completed'                                     AS is_completed,
       discount_pct,
       total_amount
FROM {{ source('shop', 'orders') }}
