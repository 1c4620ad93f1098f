-- The 10 customers with the highest completed revenue, with their country and segment (join + top-k).
SELECT c.customer_id,
       c.country,
       c.segment,
       count(*)                        AS orders,
       round(sum(o.total_amount), 2)   AS revenue
FROM shop.orders o
JOIN shop.customers c ON c.customer_id = o.customer_id
WHERE o.status = 'completed'
GROUP BY c.customer_id, c.country, c.segment
ORDER BY revenue DESC, c.customer_id
LIMIT 10
