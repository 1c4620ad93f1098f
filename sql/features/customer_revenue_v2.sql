-- GENERATED from the dbt project in dbt/ by `bash dbt/compile.sh`; do not edit.
-- The demo's feature layer: staging views over shop.*, the feature groups, and
-- features.customer_revenue_v2, the training view of revenue_predictor (one row per
-- customer who signed up before 2025-10-01, features from history before it, target
-- revenue_next_90d). Columns: docs/data-dictionary.md. Run with:
--   voidx sql -f sql/features/customer_revenue_v2.sql
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS features;

-- dbt/models/staging/stg_country_currency.sql
CREATE OR REPLACE VIEW staging.stg_country_currency AS
-- The currency of each customer country (shop.customers.country), for the FX features.
SELECT country, currency
FROM (VALUES ('US', 'USD'), ('GB', 'GBP'), ('DE', 'EUR'), ('FR', 'EUR'), ('NL', 'EUR'),
             ('ES', 'EUR'), ('CA', 'CAD'), ('JP', 'JPY'), ('AU', 'AUD'), ('BR', 'BRL'),
             ('IN', 'INR')) AS t (country, currency);

-- dbt/models/staging/stg_customers.sql
CREATE OR REPLACE VIEW staging.stg_customers AS
-- One row per customer, as generated (see docs/data-dictionary.md, shop.customers).
SELECT customer_id,
       signup_date,
       country,
       segment,
       channel AS acquisition_channel,
       age,
       is_newsletter
FROM shop.customers;

-- dbt/models/features/feat_population.sql
CREATE OR REPLACE VIEW features.feat_population AS
-- The customers the model scores: everyone who signed up before the cutoff 2025-10-01,
-- with the profile features (tenure, age, newsletter, one-hot segment and acquisition channel;
-- consumer and organic are the reference levels).
SELECT customer_id,
       country,
       CAST(DATE '2025-10-01' - signup_date AS BIGINT)                  AS tenure_days,
       age,
       is_newsletter,
       CASE WHEN segment = 'smb' THEN 1 ELSE 0 END                      AS is_smb,
       CASE WHEN segment = 'enterprise' THEN 1 ELSE 0 END               AS is_enterprise,
       CASE WHEN acquisition_channel = 'paid_search' THEN 1 ELSE 0 END  AS acquired_paid_search,
       CASE WHEN acquisition_channel = 'social' THEN 1 ELSE 0 END       AS acquired_social,
       CASE WHEN acquisition_channel = 'email' THEN 1 ELSE 0 END        AS acquired_email,
       CASE WHEN acquisition_channel = 'referral' THEN 1 ELSE 0 END     AS acquired_referral
FROM staging.stg_customers
WHERE signup_date < DATE '2025-10-01';

-- dbt/models/staging/stg_market_prices.sql
CREATE OR REPLACE VIEW staging.stg_market_prices AS
-- One row per currency and day; commodity_index is NULL on weekends.
SELECT price_date,
       date_trunc('month', CAST(price_date AS TIMESTAMP)) AS price_month,
       currency,
       fx_to_usd,
       commodity_index
FROM shop.market_prices;

-- dbt/models/features/feat_country_fx.sql
CREATE OR REPLACE VIEW features.feat_country_fx AS
-- Per customer country: how its currency moved against USD before the cutoff (monthly mean
-- FX rate of 2025-09 over 2025-06 and over 2024-09, minus one). USD countries get 0.
WITH fx AS (
    SELECT currency,
           avg(fx_to_usd) FILTER (WHERE price_month = TIMESTAMP '2025-09-01 00:00:00') AS fx_now,
           avg(fx_to_usd) FILTER (WHERE price_month = TIMESTAMP '2025-06-01 00:00:00') AS fx_3m_ago,
           avg(fx_to_usd) FILTER (WHERE price_month = TIMESTAMP '2024-09-01 00:00:00') AS fx_12m_ago
    FROM staging.stg_market_prices
    GROUP BY currency
)
SELECT cc.country,
       fx.fx_now / fx.fx_3m_ago - 1  AS fx_change_3m,
       fx.fx_now / fx.fx_12m_ago - 1 AS fx_change_12m
FROM staging.stg_country_currency cc
JOIN fx ON fx.currency = cc.currency;

-- dbt/models/staging/stg_marketing_touches.sql
CREATE OR REPLACE VIEW staging.stg_marketing_touches AS
-- One row per marketing contact.
SELECT touch_id,
       customer_id,
       touch_ts,
       date_part('epoch', touch_ts) / 86400.0 AS touch_epoch_day,
       campaign,
       channel AS touch_channel,
       cost,
       clicked
FROM shop.marketing_touches;

-- dbt/models/features/feat_touch_history.sql
CREATE OR REPLACE VIEW features.feat_touch_history AS
-- Every marketing touch before the cutoff 2025-10-01, with its age in days at the cutoff.
SELECT t.*,
       date_part('epoch', TIMESTAMP '2025-10-01 00:00:00') / 86400.0 - t.touch_epoch_day AS days_before_cutoff
FROM staging.stg_marketing_touches t
WHERE t.touch_ts < TIMESTAMP '2025-10-01 00:00:00';

-- dbt/models/features/feat_marketing.sql
CREATE OR REPLACE VIEW features.feat_marketing AS
-- Marketing touches before the cutoff: volume, clicks by channel and recency, click-through
-- rate, cost, and win-back mails (sent only after 90 days without an order).
SELECT customer_id,
       count(*)                                                                     AS touches,
       count(*) FILTER (WHERE days_before_cutoff <= 90)                             AS touches_90d,
       count(*) FILTER (WHERE clicked)                                              AS clicks,
       count(*) FILTER (WHERE clicked AND days_before_cutoff <= 30)                 AS clicks_30d,
       count(*) FILTER (WHERE clicked AND days_before_cutoff <= 90)                 AS clicks_90d,
       CAST(count(*) FILTER (WHERE clicked) AS DOUBLE) / count(*)                   AS ctr,
       count(*) FILTER (WHERE clicked AND touch_channel = 'email')                  AS clicks_email,
       count(*) FILTER (WHERE clicked AND touch_channel = 'sms')                    AS clicks_sms,
       count(*) FILTER (WHERE clicked AND touch_channel = 'social')                 AS clicks_social,
       count(*) FILTER (WHERE clicked AND touch_channel = 'paid_search')            AS clicks_paid_search,
       count(*) FILTER (WHERE clicked AND touch_channel = 'display')                AS clicks_display,
       sum(cost)                                                                    AS marketing_cost,
       min(days_before_cutoff)                                                      AS days_since_last_touch,
       min(days_before_cutoff) FILTER (WHERE clicked)                               AS days_since_last_click,
       count(*) FILTER (WHERE campaign IN ('winback', 'winback_offer'))             AS winback_touches,
       count(*) FILTER (WHERE campaign IN ('winback', 'winback_offer') AND days_before_cutoff <= 90) AS winback_touches_90d
FROM features.feat_touch_history
GROUP BY customer_id;

-- dbt/models/staging/stg_orders.sql
CREATE OR REPLACE VIEW staging.stg_orders AS
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
FROM shop.orders;

-- dbt/models/features/feat_order_history.sql
CREATE OR REPLACE VIEW features.feat_order_history AS
-- Every order placed before the cutoff 2025-10-01, the only orders features may see, with its
-- age in (fractional) days at the cutoff: windows are `days_before_cutoff <= 30 / 90 / 365`.
SELECT o.*,
       date_part('epoch', TIMESTAMP '2025-10-01 00:00:00') / 86400.0 - o.order_epoch_day AS days_before_cutoff
FROM staging.stg_orders o
WHERE o.order_ts < TIMESTAMP '2025-10-01 00:00:00';

-- dbt/models/features/feat_cadence.sql
CREATE OR REPLACE VIEW features.feat_cadence AS
-- Order cadence: gaps between consecutive orders (any status) before the cutoff, and how
-- overdue the customer is against their own rhythm.
WITH gaps AS (
    SELECT customer_id,
           days_before_cutoff,
           order_epoch_day - lag(order_epoch_day) OVER (PARTITION BY customer_id ORDER BY order_ts, order_id) AS gap_days,
           row_number() OVER (PARTITION BY customer_id ORDER BY order_ts DESC, order_id DESC)             AS newest_first
    FROM features.feat_order_history
)
SELECT customer_id,
       avg(gap_days)                                                   AS mean_gap_days,
       stddev_samp(gap_days)                                           AS std_gap_days,
       max(gap_days)                                                   AS max_gap_days,
       max(gap_days) FILTER (WHERE newest_first = 1)                   AS last_gap_days,
       min(days_before_cutoff) / NULLIF(avg(gap_days), 0)              AS overdue_ratio,
       count(*) / (max(days_before_cutoff) / 30.4375 + 1)              AS orders_per_month
FROM gaps
GROUP BY customer_id;

-- dbt/models/features/feat_customer_months.sql
CREATE OR REPLACE VIEW features.feat_customer_months AS
-- One row per customer and calendar month from the sign-up month to 2025-09 (zero-filled),
-- with the month's completed spend and the month's market context (mean commodity index,
-- mean FX rate of the customer's country currency). Trend and market-sensitivity features
-- are regressions and correlations over these rows.
WITH months AS (
    SELECT price_month AS month,
           avg(commodity_index) AS commodity_index
    FROM staging.stg_market_prices
    WHERE price_month < TIMESTAMP '2025-10-01 00:00:00' AND currency = 'USD'
    GROUP BY price_month
), fx AS (
    SELECT price_month AS month, currency, avg(fx_to_usd) AS fx_to_usd
    FROM staging.stg_market_prices
    WHERE price_month < TIMESTAMP '2025-10-01 00:00:00'
    GROUP BY price_month, currency
), spend AS (
    SELECT customer_id, order_month AS month, sum(total_amount) AS spend
    FROM features.feat_order_history
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
FROM features.feat_population p
JOIN staging.stg_customers c ON c.customer_id = p.customer_id
CROSS JOIN months m
LEFT JOIN staging.stg_country_currency cc ON cc.country = p.country
LEFT JOIN fx ON fx.month = m.month AND fx.currency = cc.currency
LEFT JOIN spend s ON s.customer_id = p.customer_id AND s.month = m.month
WHERE m.month >= date_trunc('month', CAST(c.signup_date AS TIMESTAMP));

-- dbt/models/features/feat_orders_mix.sql
CREATE OR REPLACE VIEW features.feat_orders_mix AS
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
FROM features.feat_order_history
GROUP BY customer_id;

-- dbt/models/features/feat_rfm.sql
CREATE OR REPLACE VIEW features.feat_rfm AS
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
FROM features.feat_order_history
GROUP BY customer_id;

-- dbt/models/features/feat_target.sql
CREATE OR REPLACE VIEW features.feat_target AS
-- The label: completed revenue in the 90 days after the cutoff (2025-10-01 .. 2025-12-29).
SELECT customer_id, sum(total_amount) AS revenue_next_90d
FROM staging.stg_orders
WHERE is_completed
  AND order_ts >= TIMESTAMP '2025-10-01 00:00:00'
  AND order_ts <  TIMESTAMP '2025-12-30 00:00:00'
GROUP BY customer_id;

-- dbt/models/features/feat_trend_market.sql
CREATE OR REPLACE VIEW features.feat_trend_market AS
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
    FROM features.feat_customer_months
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
FROM r;

-- dbt/models/staging/stg_products.sql
CREATE OR REPLACE VIEW staging.stg_products AS
-- One row per product with its category and list margin.
SELECT product_id,
       category,
       unit_price AS list_price,
       unit_cost,
       1 - unit_cost / unit_price AS margin_rate
FROM shop.products;

-- dbt/models/staging/stg_order_lines.sql
CREATE OR REPLACE VIEW staging.stg_order_lines AS
-- One row per order line, with its product's category and margin.
SELECT l.order_line_id,
       l.order_id,
       l.product_id,
       p.category,
       p.margin_rate,
       l.quantity,
       l.unit_price,
       l.line_amount,
       l.is_returned
FROM shop.order_lines l
JOIN staging.stg_products p ON p.product_id = l.product_id;

-- dbt/models/features/feat_basket.sql
CREATE OR REPLACE VIEW features.feat_basket AS
-- Basket size and category mix of the orders placed before the cutoff (cancelled orders
-- excluded: they were never shipped). Shares are of line value, before the order discount.
SELECT o.customer_id,
       CAST(count(*) AS DOUBLE) / count(DISTINCT o.order_id)                                   AS avg_lines_per_order,
       CAST(sum(l.quantity) AS DOUBLE) / count(DISTINCT o.order_id)                            AS avg_units_per_order,
       sum(l.line_amount) / sum(l.quantity)                                                    AS avg_unit_price,
       count(DISTINCT l.product_id)                                                            AS distinct_products,
       count(DISTINCT l.category)                                                              AS distinct_categories,
       sum(l.line_amount * l.margin_rate) / NULLIF(sum(l.line_amount), 0)                      AS avg_margin_rate,
       CAST(count(*) FILTER (WHERE l.is_returned) AS DOUBLE) / count(*)                        AS returned_line_share,
       COALESCE(sum(l.line_amount) FILTER (WHERE l.category = 'electronics'), 0) / NULLIF(sum(l.line_amount), 0) AS share_electronics,
       COALESCE(sum(l.line_amount) FILTER (WHERE l.category = 'apparel'), 0) / NULLIF(sum(l.line_amount), 0)     AS share_apparel,
       COALESCE(sum(l.line_amount) FILTER (WHERE l.category = 'home'), 0) / NULLIF(sum(l.line_amount), 0)        AS share_home,
       COALESCE(sum(l.line_amount) FILTER (WHERE l.category = 'beauty'), 0) / NULLIF(sum(l.line_amount), 0)      AS share_beauty,
       COALESCE(sum(l.line_amount) FILTER (WHERE l.category = 'sports'), 0) / NULLIF(sum(l.line_amount), 0)      AS share_sports,
       COALESCE(sum(l.line_amount) FILTER (WHERE l.category = 'books'), 0) / NULLIF(sum(l.line_amount), 0)       AS share_books,
       COALESCE(sum(l.line_amount) FILTER (WHERE l.category = 'toys'), 0) / NULLIF(sum(l.line_amount), 0)        AS share_toys,
       COALESCE(sum(l.line_amount) FILTER (WHERE l.category = 'grocery'), 0) / NULLIF(sum(l.line_amount), 0)     AS share_grocery,
       COALESCE(sum(l.line_amount) FILTER (WHERE l.category = 'office'), 0) / NULLIF(sum(l.line_amount), 0)      AS share_office,
       COALESCE(sum(l.line_amount) FILTER (WHERE l.category = 'garden'), 0) / NULLIF(sum(l.line_amount), 0)      AS share_garden
FROM features.feat_order_history o
JOIN staging.stg_order_lines l ON l.order_id = o.order_id
WHERE o.status <> 'cancelled'
GROUP BY o.customer_id;

-- dbt/models/features/customer_revenue_v2.sql
CREATE OR REPLACE VIEW features.customer_revenue_v2 AS
-- The demo model's training view: one row per customer who signed up before the cutoff
-- 2025-10-01, 83 numeric features from history before it, and the target revenue_next_90d.
-- The first eleven features are those of features.customer_revenue, with the same values.
-- Counts and sums are 0 without history; averages, shares, gaps and correlations stay NULL
-- (the trees learn a direction for missing values). Every column: models/features/schema.yml.
SELECT p.customer_id,
       p.tenure_days,
       r.recency_days,
       COALESCE(r.frequency, 0)                  AS frequency,
       COALESCE(r.monetary, 0)                   AS monetary,
       r.avg_order_value,
       COALESCE(r.monetary_90d, 0)               AS monetary_90d,
       COALESCE(m.returns, 0)                    AS returns,
       COALESCE(t.clicks, 0)                     AS clicks,
       COALESCE(t.clicks_90d, 0)                 AS clicks_90d,
       p.age,
       p.is_newsletter,
       -- profile
       p.is_smb,
       p.is_enterprise,
       p.acquired_paid_search,
       p.acquired_social,
       p.acquired_email,
       p.acquired_referral,
       -- RFM windows
       r.first_order_days,
       COALESCE(r.frequency_30d, 0)              AS frequency_30d,
       COALESCE(r.frequency_90d, 0)              AS frequency_90d,
       COALESCE(r.frequency_365d, 0)             AS frequency_365d,
       COALESCE(r.monetary_30d, 0)               AS monetary_30d,
       COALESCE(r.monetary_365d, 0)              AS monetary_365d,
       COALESCE(r.monetary_prior_90d, 0)         AS monetary_prior_90d,
       r.max_order_value,
       -- cadence and trend
       c.mean_gap_days,
       c.std_gap_days,
       c.max_gap_days,
       c.last_gap_days,
       c.overdue_ratio,
       COALESCE(c.orders_per_month, 0)           AS orders_per_month,
       tm.spend_slope,
       tm.spend_slope_12m,
       COALESCE(tm.active_months, 0)             AS active_months,
       COALESCE(tm.active_month_share, 0)        AS active_month_share,
       -- basket and category mix
       b.avg_lines_per_order,
       b.avg_units_per_order,
       b.avg_unit_price,
       COALESCE(b.distinct_products, 0)          AS distinct_products,
       COALESCE(b.distinct_categories, 0)        AS distinct_categories,
       b.avg_margin_rate,
       b.share_electronics,
       b.share_apparel,
       b.share_home,
       b.share_beauty,
       b.share_sports,
       b.share_books,
       b.share_toys,
       b.share_grocery,
       b.share_office,
       b.share_garden,
       -- channel mix
       m.share_web,
       m.share_mobile_app,
       m.share_marketplace,
       m.share_phone,
       COALESCE(m.distinct_order_channels, 0)    AS distinct_order_channels,
       -- discounts and returns
       m.avg_discount_pct,
       m.discounted_order_share,
       m.return_rate,
       m.cancel_rate,
       b.returned_line_share,
       -- marketing
       COALESCE(t.touches, 0)                    AS touches,
       COALESCE(t.touches_90d, 0)                AS touches_90d,
       COALESCE(t.clicks_30d, 0)                 AS clicks_30d,
       t.ctr,
       COALESCE(t.clicks_email, 0)               AS clicks_email,
       COALESCE(t.clicks_sms, 0)                 AS clicks_sms,
       COALESCE(t.clicks_social, 0)              AS clicks_social,
       COALESCE(t.clicks_paid_search, 0)         AS clicks_paid_search,
       COALESCE(t.clicks_display, 0)             AS clicks_display,
       COALESCE(t.marketing_cost, 0)             AS marketing_cost,
       t.days_since_last_touch,
       t.days_since_last_click,
       COALESCE(t.winback_touches, 0)            AS winback_touches,
       COALESCE(t.winback_touches_90d, 0)        AS winback_touches_90d,
       -- market and FX sensitivity
       tm.spend_commodity_corr,
       tm.spend_fx_corr,
       fx.fx_change_3m,
       fx.fx_change_12m,
       -- seasonality
       m.weekend_order_share,
       m.evening_order_share,
       m.q4_spend_share,
       COALESCE(m.monetary_last_year_window, 0)  AS monetary_last_year_window,
       -- target
       COALESCE(y.revenue_next_90d, 0)           AS revenue_next_90d
FROM features.feat_population p
LEFT JOIN features.feat_rfm r          ON r.customer_id = p.customer_id
LEFT JOIN features.feat_cadence c      ON c.customer_id = p.customer_id
LEFT JOIN features.feat_trend_market tm ON tm.customer_id = p.customer_id
LEFT JOIN features.feat_basket b       ON b.customer_id = p.customer_id
LEFT JOIN features.feat_orders_mix m   ON m.customer_id = p.customer_id
LEFT JOIN features.feat_marketing t    ON t.customer_id = p.customer_id
LEFT JOIN features.feat_country_fx fx  ON fx.country = p.country
LEFT JOIN features.feat_target y       ON y.customer_id = p.customer_id;
