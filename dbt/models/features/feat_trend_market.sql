-- Spend trend and sensitivity to market prices, over the zero-filled months of
-- feat_customer_months: slope of monthly spend (all months, and the last 12), months with a
-- purchase, and the correlation of monthly spend with the commodity index and with the FX
-- rate of the customer's currency (NULL when spend or price never varies, or with fewer
-- than three months: two points always correlate perfectly).
WITH r AS (
    SELECT customer_id,
           regr_slope(spend, month_index)                                                         AS spend_slope,
           regr_slope(spend, month_index) FILTER (WHERE month >= TIMESTAMP '2024-10-01 00:00:00') AS spend_slope_12m,
           count(*) FILTER (WHERE spend > 0)                                                      AS active_months,
           CAST(count(*) FILTER (WHERE spend > 0) AS DOUBLE) / count(*)                           AS active_month_share,
           CASE WHEN count(*) >= 3 THEN corr(spend, commodity_index) END                          AS commodity_corr,
           CASE WHEN count(*) >= 3 THEN corr(spend, fx_to_usd) END                                AS fx_corr
    FROM {{ ref('feat_customer_months') }}
    GROUP BY customer_id
)
SELECT customer_id,
       spend_slope,
       spend_slope_12m,
       active_months,
       active_month_share,
       -- rounding can land just past +-1; CASE, not least/greatest, which skip NULLs
       CASE WHEN commodity_corr > 1 THEN 1.0 WHEN commodity_corr < -1 THEN -1.0 ELSE commodity_corr END AS spend_commodity_corr,
       CASE WHEN fx_corr > 1 THEN 1.0 WHEN fx_corr < -1 THEN -1.0 ELSE fx_corr END                     AS spend_fx_corr
FROM r
