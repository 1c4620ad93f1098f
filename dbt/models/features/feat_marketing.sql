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
FROM {{ ref('feat_touch_history') }}
GROUP BY customer_id
