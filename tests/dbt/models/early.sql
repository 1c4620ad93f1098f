{{ config(materialized='ephemeral') }}
select customer_id from {{ ref('stg_customers') }} where customer_id < 3
