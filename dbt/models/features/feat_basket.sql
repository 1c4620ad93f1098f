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
FROM {{ ref('feat_order_history') }} o
JOIN {{ ref('stg_order_lines') }} l ON l.order_id = o.order_id
WHERE o.status <> 'cancelled'
GROUP BY o.customer_id
