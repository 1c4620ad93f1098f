-- One row per currency and day; commodity_index is NULL on weekends.
SELECT price_date,
       date_trunc('month', CAST(price_date AS TIMESTAMP)) AS price_month,
       currency,
       fx_to_usd,
       commodity_index
FROM {{ source('shop', 'market_prices') }}
