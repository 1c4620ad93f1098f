-- RFM aggregates per customer from completed orders before the 2025-10-01 cutoff:
-- recency (calendar days from the last order's date to the cutoff), frequency (orders),
-- monetary (revenue). DATE - DATE is a whole number of days in both DataFusion and DuckDB.
SELECT customer_id,
       CAST(DATE '2025-10-01' - CAST(max(order_ts) AS DATE) AS BIGINT) AS recency_days,
       count(*)                                                         AS frequency,
       round(sum(total_amount), 2)                                      AS monetary
FROM shop.orders
WHERE status = 'completed'
  AND order_ts < TIMESTAMP '2025-10-01 00:00:00'
GROUP BY customer_id
ORDER BY customer_id
