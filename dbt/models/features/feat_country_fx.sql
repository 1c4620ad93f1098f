-- Per customer country: how its currency moved against USD before the cutoff (monthly mean
-- FX rate of 2025-09 over 2025-06 and over 2024-09, minus one). USD countries get 0.
WITH fx AS (
    SELECT currency,
           avg(fx_to_usd) FILTER (WHERE price_month = TIMESTAMP '2025-09-01 00:00:00') AS fx_now,
           avg(fx_to_usd) FILTER (WHERE price_month = TIMESTAMP '2025-06-01 00:00:00') AS fx_3m_ago,
           avg(fx_to_usd) FILTER (WHERE price_month = TIMESTAMP '2024-09-01 00:00:00') AS fx_12m_ago
    FROM {{ ref('stg_market_prices') }}
    GROUP BY currency
)
SELECT cc.country,
       fx.fx_now / fx.fx_3m_ago - 1  AS fx_change_3m,
       fx.fx_now / fx.fx_12m_ago - 1 AS fx_change_12m
FROM {{ ref('stg_country_currency') }} cc
JOIN fx ON fx.currency = cc.currency
