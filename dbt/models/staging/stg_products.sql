-- One row per product with its category and list margin.
SELECT product_id,
       category,
       unit_price AS list_price,
       unit_cost,
       1 - unit_cost / unit_price AS margin_rate
FROM {{ source('shop', 'products') }}
