-- The demo's sources as external tables. Run once:
--   voidx sql -v orders_url=http://… -v market_url=http://… -v shop_db=postgres://… -f sql/pipelines/00_sources.sql
-- (psql -v … -f … works the same against a running server).
-- Hosts must be allowed: [ingest] allowed_hosts (VOIDX_INGEST__ALLOWED_HOSTS).
CREATE SCHEMA IF NOT EXISTS sources;
CREATE SCHEMA IF NOT EXISTS raw;

-- Orders from the shop's REST API: rows under $.data, the next page's URL
-- under $.next; `updated_since` lets the API return only changed orders, so
-- ingest's watermark (updated_at > last mark) is pushed into the request.
CREATE EXTERNAL TABLE IF NOT EXISTS sources.orders_api (
    order_id BIGINT NOT NULL,
    customer_id VARCHAR,
    amount DOUBLE,
    status VARCHAR,
    updated_at TIMESTAMP
)
STORED AS REST LOCATION :'orders_url'
OPTIONS ('records' '$.data', 'next_page' '$.next', 'filter.updated_at' 'updated_since');

-- Market prices scraped from an HTML page.
CREATE EXTERNAL TABLE IF NOT EXISTS sources.market_prices
STORED AS HTML LOCATION :'market_url'
OPTIONS ('selector' 'table#prices');

-- Customers from the transactional PostgreSQL database (password from the environment;
-- the operator allows the variable with ingest.secret_env, e.g. VOIDX_INGEST__SECRET_ENV=SHOP_DB_PASSWORD).
CREATE EXTERNAL TABLE IF NOT EXISTS sources.customers_db
STORED AS POSTGRES LOCATION :'shop_db'
OPTIONS ('table' 'public.customers', 'password' 'env:SHOP_DB_PASSWORD');
