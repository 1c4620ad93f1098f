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
FROM {{ ref('feat_population') }} p
LEFT JOIN {{ ref('feat_rfm') }} r          ON r.customer_id = p.customer_id
LEFT JOIN {{ ref('feat_cadence') }} c      ON c.customer_id = p.customer_id
LEFT JOIN {{ ref('feat_trend_market') }} tm ON tm.customer_id = p.customer_id
LEFT JOIN {{ ref('feat_basket') }} b       ON b.customer_id = p.customer_id
LEFT JOIN {{ ref('feat_orders_mix') }} m   ON m.customer_id = p.customer_id
LEFT JOIN {{ ref('feat_marketing') }} t    ON t.customer_id = p.customer_id
LEFT JOIN {{ ref('feat_country_fx') }} fx  ON fx.country = p.country
LEFT JOIN {{ ref('feat_target') }} y       ON y.customer_id = p.customer_id
