-- One row per customer and calendar month from the sign-up month to 2025-09 (zero-filled),
-- with the month's completed spend and the month's market context (mean commodity index,
-- mean FX rate of the customer's country currency). Trend and market-sensitivity features
-- are regressions and correlations over these rows.
WITH months AS (
    SELECT price_month AS month,
           avg(commodity_index) AS commodity_index
    FROM {{ ref('stg_market_prices') }}
    WHERE price_month < TIMESTAMP '2025-10-01 00:00:00' AND currency = 'USD'
    GROUP BY price_month
), fx AS (
    SELECT price_month AS month, currency, avg(fx_to_usd) AS fx_to_usd
    FROM {{ ref('stg_market_prices') }}
    WHERE price_month < TIMESTAMP '2025-10-01 00:00:00'
    GROUP BY price_month, currency
), spend AS (
    SELECT customer_id, order_month AS month, sum(total_amount) AS spend
    FROM {{ ref('feat_order_history') }}
    WHERE is_completed
    GROUP BY customer_id, order_month
)
SELECT p.customer_id,
       m.month,
       -- months before the cutoff month (2025-09 is 0), so a slope is USD per month
       date_part('epoch', m.month) / 86400.0 / 30.4375 AS month_index,
       COALESCE(s.spend, 0) AS spend,
       m.commodity_index,
       fx.fx_to_usd
FROM {{ ref('feat_population') }} p
JOIN {{ ref('stg_customers') }} c ON c.customer_id = p.customer_id
CROSS JOIN months m
LEFT JOIN {{ ref('stg_country_currency') }} cc ON cc.country = p.country
LEFT JOIN fx ON fx.month = m.month AND fx.currency = cc.currency
LEFT JOIN spend s ON s.customer_id = p.customer_id AND s.month = m.month
WHERE m.month >= date_trunc('month', CAST(c.signup_date AS TIMESTAMP))
