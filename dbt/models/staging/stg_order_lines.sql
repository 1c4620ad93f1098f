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
FROM {{ source('shop', 'order_lines') }} l
JOIN {{ ref('stg_products') }} p ON p.product_id = l.product_id
