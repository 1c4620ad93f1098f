-- Quality rules, run once after the first load created the tables:
-- rows that break them are quarantined by every later ingest.
ALTER TABLE raw.orders ADD CONSTRAINT amount_not_negative CHECK (amount >= 0);
ALTER TABLE raw.orders ADD CONSTRAINT known_status CHECK (status IN ('placed', 'paid', 'shipped', 'cancelled'));
