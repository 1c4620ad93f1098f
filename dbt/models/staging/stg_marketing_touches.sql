-- One row per marketing contact.
SELECT touch_id,
       customer_id,
       touch_ts,
       date_part('epoch', touch_ts) / 86400.0 AS touch_epoch_day,
       campaign,
       channel AS touch_channel,
       cost,
       clicked
FROM {{ source('shop', 'marketing_touches') }}
