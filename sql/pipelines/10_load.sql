-- The recurring load: each source into its Delta table, bad rows to
-- raw.<table>__quarantine, every run in voidx.ingest_runs. Safe to re-run:
-- merges on the key and reads only rows newer than the last watermark.
--   voidx sql -f sql/pipelines/10_load.sql      (or as a scheduled job: create_job)
SELECT target, status, rows_read, rows_written, rows_quarantined, watermark_after
FROM ingest('raw.orders', 'SELECT * FROM sources.orders_api',
            '{"mode": "merge", "key": "order_id", "watermark": "updated_at"}');

SELECT target, status, rows_read, rows_written, rows_quarantined
FROM ingest('raw.market_prices', 'SELECT * FROM sources.market_prices', '{"mode": "overwrite"}');

SELECT target, status, rows_read, rows_written, rows_quarantined, watermark_after
FROM ingest('raw.customers', 'SELECT * FROM sources.customers_db',
            '{"mode": "merge", "key": "customer_id", "watermark": "updated_at"}');
