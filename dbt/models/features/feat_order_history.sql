-- Every order placed before the cutoff 2025-10-01, the only orders features may see, with its
-- age in (fractional) days at the cutoff: windows are `days_before_cutoff <= 30 / 90 / 365`.
SELECT o.*,
       date_part('epoch', TIMESTAMP '2025-10-01 00:00:00') / 86400.0 - o.order_epoch_day AS days_before_cutoff
FROM {{ ref('stg_orders') }} o
WHERE o.order_ts < TIMESTAMP '2025-10-01 00:00:00'
