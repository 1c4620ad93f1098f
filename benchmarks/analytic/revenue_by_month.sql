-- Revenue of completed orders per calendar month (24 groups).
SELECT date_trunc('month', order_ts) AS month,
       count(*)                      AS orders,
       round(sum(total_amount), 2)   AS revenue
FROM shop.orders
WHERE status = 'completed'
GROUP BY date_trunc('month', order_ts)
ORDER BY month
