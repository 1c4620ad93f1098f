select * from {{ ref('segments') }} where n < 0
