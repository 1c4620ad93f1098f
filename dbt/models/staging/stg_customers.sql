-- One row per customer, as generated (see docs/data-dictionary.md, shop.customers).
SELECT customer_id,
       signup_date,
       country,
       segment,
       channel AS acquisition_channel,
       age,
       is_newsletter
FROM {{ source('shop', 'customers') }}
