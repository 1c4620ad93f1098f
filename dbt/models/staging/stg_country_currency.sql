-- The currency of each customer country (shop.customers.country), for the FX features.
SELECT country, currency
FROM (VALUES ('US', 'USD'), ('GB', 'GBP'), ('DE', 'EUR'), ('FR', 'EUR'), ('NL', 'EUR'),
             ('ES', 'EUR'), ('CA', 'CAD'), ('JP', 'JPY'), ('AU', 'AUD'), ('BR', 'BRL'),
             ('IN', 'INR')) AS t (country, currency)
