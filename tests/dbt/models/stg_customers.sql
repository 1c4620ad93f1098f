select customer_id, segment, updated_at from {{ source('shop', 'customers') }}
