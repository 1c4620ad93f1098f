-- Every marketing touch before the cutoff 2025-10-01, with its age in days at the cutoff.
SELECT t.*,
       date_part('epoch', TIMESTAMP '2025-10-01 00:00:00') / 86400.0 - t.touch_epoch_day AS days_before_cutoff
FROM {{ ref('stg_marketing_touches') }} t
WHERE t.touch_ts < TIMESTAMP '2025-10-01 00:00:00'
