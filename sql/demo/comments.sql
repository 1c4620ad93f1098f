-- Descriptions of the demo tables (schema shop), stored in the catalog with COMMENT ON so
-- psql's \dt+ / \d+, obj_description, col_description, dbt's catalog and the generated data
-- dictionary (docs/data-dictionary.md, `voidx docs data-dictionary`) all show the same text.
-- `voidx demo` and `serve --demo` run this after writing the tables (src/cli.rs). How the
-- generator works (the hidden customer model, sampling rules, determinism, scale):
-- docs/demo-data.md. Run again with:
--   voidx sql -f sql/demo/comments.sql

COMMENT ON SCHEMA shop IS 'The demo web shop that voidx demo and serve --demo write (scale 1, seed 42 unless asked): two years, 2024-01-01 .. 2025-12-31, of customers, products, orders, order lines, marketing touches and market prices, fabricated deterministically. How the generator works (the hidden customer traits, sampling rules, the planted ML signal): [docs/demo-data.md](demo-data.md).';

COMMENT ON TABLE shop.customers IS 'One customer of the demo web shop (2024-01-01 .. 2025-12-31), 10 000 per unit of scale. Observable profile only: the traits that drive behaviour are hidden (docs/demo-data.md).';
COMMENT ON COLUMN shop.customers.customer_id IS 'Key, 1..n in sign-up order.';
COMMENT ON COLUMN shop.customers.signup_date IS 'Day the account was created, 2024-01-01 .. 2025-12-31; sign-ups grow to 1.8x over the two years and follow the season. About 18 % sign up on or after the cutoff 2025-10-01.';
COMMENT ON COLUMN shop.customers.country IS 'ISO 3166 alpha-2 code: US 34 %, GB 12, DE 10, FR 8, CA 7, JP 6, AU 6, NL 5, ES 5, BR 4, IN 3.';
COMMENT ON COLUMN shop.customers.segment IS 'consumer / smb / enterprise (80 / 15 / 5 %); drives basket size, units, order rate, lifetime, weekday pattern and category mix.';
COMMENT ON COLUMN shop.customers.channel IS 'Acquisition channel: organic, paid_search, social, email, referral (35 / 25 / 18 / 10 / 12 %); drives value, lifetime, the one-and-done share and newsletter opt-in.';
COMMENT ON COLUMN shop.customers.age IS 'Age in years (of the contact person for businesses), round(N(39, 13^2)) clamped to 18..85; NULL for about 4 %.';
COMMENT ON COLUMN shop.customers.is_newsletter IS 'Opted in to the newsletter at sign-up (organic 35 %, paid_search 25 %, social 30 %, email 85 %, referral 40 %); later unsubscribes are not reflected.';

COMMENT ON TABLE shop.products IS 'One product of the catalogue: 500 in ten categories, the same at every scale. Popularity within a category falls off with rank (Zipf, exponent 0.9).';
COMMENT ON COLUMN shop.products.product_id IS 'Key, 1..500, grouped by category.';
COMMENT ON COLUMN shop.products.name IS 'Display name, e.g. Aurora Wireless Earbuds: a brand x noun pair, distinct within the category.';
COMMENT ON COLUMN shop.products.category IS 'electronics 60, apparel 80, home 60, beauty 50, sports 50, books 50, toys 40, grocery 40, office 40, garden 30 products. Consumers buy mostly apparel, electronics and home; businesses office supplies, electronics and grocery.';
COMMENT ON COLUMN shop.products.unit_price IS 'List price on 2024-01-01, USD: lognormal per category (median electronics 110, apparel 38, home 45, beauty 19, sports 55, books 16, toys 26, grocery 9, office 24, garden 42), charm-priced to .99.';
COMMENT ON COLUMN shop.products.unit_cost IS 'Purchase cost, USD: unit_price x a margin factor drawn per category (e.g. apparel 0.35-0.60, grocery 0.70-0.85).';

COMMENT ON TABLE shop.orders IS 'One order. Money is USD rounded to cents, timestamps are UTC wall-clock time. Bulk orders (0.2 % of enterprise, 0.08 % of smb orders) are the outliers: some exceed 10 000 USD against a median of about 170.';
COMMENT ON COLUMN shop.orders.order_id IS 'Key, ascending with order_ts.';
COMMENT ON COLUMN shop.orders.customer_id IS 'The customer (shop.customers.customer_id).';
COMMENT ON COLUMN shop.orders.order_ts IS 'When the order was placed, on or after the customer''s signup_date; hour from a consumer curve (evening peak at 20:00) or a business curve (office hours).';
COMMENT ON COLUMN shop.orders.channel IS 'web, mobile_app, marketplace or phone (consumer 47/43/10/0 %, smb 65/12/8/15 %, enterprise 45/3/2/50 %).';
COMMENT ON COLUMN shop.orders.status IS 'completed, returned or cancelled: cancelled 3 %; returned when at least half of the order''s line value was sent back (about 5 %); else completed.';
COMMENT ON COLUMN shop.orders.discount_pct IS 'Order discount in percent (0..40): a contract customer''s contract discount; consumers during a sale 10/15/20 % (Black Friday 20-40 %) for 60 % of orders; otherwise a 5/10 % coupon for 7 %; else 0.';
COMMENT ON COLUMN shop.orders.total_amount IS 'Order value, USD: round(sum(line_amount) x (1 - discount_pct / 100), 2), including lines later returned.';

COMMENT ON TABLE shop.order_lines IS 'One product in one order; every order has at least one line (1 + Poisson lines, about three on average, at most 30).';
COMMENT ON COLUMN shop.order_lines.order_line_id IS 'Key, ascending with the order.';
COMMENT ON COLUMN shop.order_lines.order_id IS 'The order (shop.orders.order_id).';
COMMENT ON COLUMN shop.order_lines.product_id IS 'The product (shop.products.product_id), distinct within an order; category by the segment''s mix, product by popularity.';
COMMENT ON COLUMN shop.order_lines.quantity IS 'Units, at least 1: 1 + Poisson(segment x category factor); bulk orders 5-15x.';
COMMENT ON COLUMN shop.order_lines.unit_price IS 'Price paid per unit before the order discount, USD: list price x (1 + 3 % per year since 2024-01-01).';
COMMENT ON COLUMN shop.order_lines.line_amount IS 'quantity x unit_price, USD, rounded to cents.';
COMMENT ON COLUMN shop.order_lines.is_returned IS 'The line was sent back: never for cancelled orders, else with probability category rate x the customer''s return propensity (apparel 15 %, electronics 8, sports 7, home 6, toys 5, garden 4, beauty 3, office 3, books 2, grocery 1 %); about 6 % of lines.';

COMMENT ON TABLE shop.marketing_touches IS 'One marketing contact: an email, a text or an ad impression. Touches never change order behaviour; clicks depend on the customer''s value and collapse after churn.';
COMMENT ON COLUMN shop.marketing_touches.touch_id IS 'Key, ascending with touch_ts.';
COMMENT ON COLUMN shop.marketing_touches.customer_id IS 'The customer (shop.customers.customer_id); touch_ts is on or after signup_date.';
COMMENT ON COLUMN shop.marketing_touches.touch_ts IS 'When the contact happened: emails and texts 08:00-11:00, ads by the consumer hour curve.';
COMMENT ON COLUMN shop.marketing_touches.campaign IS 'welcome_series, newsletter, brand_awareness, retargeting, winback, winback_offer, or a sale: new_year_YYYY, spring_sale_YYYY, summer_sale_YYYY, back_to_school_YYYY, black_friday_YYYY, holiday_YYYY (2024, 2025).';
COMMENT ON COLUMN shop.marketing_touches.channel IS 'email, sms, social, paid_search or display.';
COMMENT ON COLUMN shop.marketing_touches.cost IS 'USD: email 0.01, sms 0.04, social about 0.30 and display about 0.02 per impression, paid search about 1.20 per click (0 when not clicked).';
COMMENT ON COLUMN shop.marketing_touches.clicked IS 'The customer clicked: click-through rate by channel (email 5 %, sms 7 %, social 1.2 %, paid_search 3.5 %, display 0.4 %) x value x campaign appeal, 0.15x after churn, at most 0.9.';

COMMENT ON TABLE shop.market_prices IS 'One currency on one day (731 days x 10 currencies): context for analysis (converting amounts, macro data); prices do not influence orders.';
COMMENT ON COLUMN shop.market_prices.price_date IS 'Every day 2024-01-01 .. 2025-12-31; the key with currency.';
COMMENT ON COLUMN shop.market_prices.currency IS 'USD, EUR, GBP, JPY, CAD, AUD, CHF, CNY, INR or BRL.';
COMMENT ON COLUMN shop.market_prices.fx_to_usd IS 'USD value of one unit of the currency (USD = 1): a geometric random walk from 2024-01-01 levels, annual volatility 4-15 %, moving on weekdays only; six significant digits.';
COMMENT ON COLUMN shop.market_prices.commodity_index IS 'A commodity price index, the same for every currency of a day: a geometric random walk from 100 (drift 3 %/year, volatility 18 %/year); NULL on Saturdays and Sundays (not published).';
