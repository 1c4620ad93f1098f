-- VOIDX demo data set: DDL of the tables that src/demo (voidx::demo::generate) produces.
--
-- Names, types and nullability match the generated Arrow schemas exactly; a unit test in
-- src/demo/tests.rs parses this file and compares. Conventions:
--   * TIMESTAMP columns are microsecond timestamps without time zone, UTC wall-clock time.
--   * Money is USD as DOUBLE, rounded to cents.
--   * Keys are not declared as constraints; the comments name them and the generator
--     guarantees uniqueness and referential integrity.
-- Meaning of every column: sql/demo/comments.sql (COMMENT ON; the generated
-- docs/data-dictionary.md lists them). The generator and the planted ML signal: docs/demo-data.md.

CREATE SCHEMA shop;

CREATE TABLE shop.customers (
    customer_id   BIGINT  NOT NULL,  -- key; 1..n in sign-up order
    signup_date   DATE    NOT NULL,  -- 2024-01-01 .. 2025-12-31
    country       VARCHAR NOT NULL,  -- ISO 3166 alpha-2 code
    segment       VARCHAR NOT NULL,  -- consumer | smb | enterprise
    channel       VARCHAR NOT NULL,  -- acquisition channel: organic | paid_search | social | email | referral
    age           INT,               -- NULL for about 4 %
    is_newsletter BOOLEAN NOT NULL   -- opted in at sign-up
);

CREATE TABLE shop.products (
    product_id BIGINT  NOT NULL,     -- key; 1..500
    name       VARCHAR NOT NULL,
    category   VARCHAR NOT NULL,     -- ten categories
    unit_price DOUBLE  NOT NULL,     -- list price on 2024-01-01, USD
    unit_cost  DOUBLE  NOT NULL      -- USD
);

CREATE TABLE shop.orders (
    order_id     BIGINT    NOT NULL, -- key; ascending with order_ts
    customer_id  BIGINT    NOT NULL, -- -> shop.customers
    order_ts     TIMESTAMP NOT NULL, -- on or after the customer's signup_date
    channel      VARCHAR   NOT NULL, -- web | mobile_app | marketplace | phone
    status       VARCHAR   NOT NULL, -- completed | returned | cancelled
    discount_pct DOUBLE    NOT NULL, -- percent, 0 .. 40
    total_amount DOUBLE    NOT NULL  -- sum(line_amount) * (1 - discount_pct / 100), USD
);

CREATE TABLE shop.order_lines (
    order_line_id BIGINT  NOT NULL,  -- key
    order_id      BIGINT  NOT NULL,  -- -> shop.orders
    product_id    BIGINT  NOT NULL,  -- -> shop.products
    quantity      INT     NOT NULL,  -- >= 1
    unit_price    DOUBLE  NOT NULL,  -- price paid per unit before the order discount, USD
    line_amount   DOUBLE  NOT NULL,  -- quantity * unit_price, USD
    is_returned   BOOLEAN NOT NULL
);

CREATE TABLE shop.marketing_touches (
    touch_id    BIGINT    NOT NULL,  -- key; ascending with touch_ts
    customer_id BIGINT    NOT NULL,  -- -> shop.customers
    touch_ts    TIMESTAMP NOT NULL,
    campaign    VARCHAR   NOT NULL,
    channel     VARCHAR   NOT NULL,  -- email | sms | social | paid_search | display
    cost        DOUBLE    NOT NULL,  -- USD
    clicked     BOOLEAN   NOT NULL
);

CREATE TABLE shop.market_prices (
    price_date      DATE    NOT NULL, -- key with currency; every day 2024-01-01 .. 2025-12-31
    currency        VARCHAR NOT NULL, -- USD EUR GBP JPY CAD AUD CHF CNY INR BRL
    fx_to_usd       DOUBLE  NOT NULL, -- USD value of one unit of currency
    commodity_index DOUBLE            -- NULL on weekends (not published)
);
