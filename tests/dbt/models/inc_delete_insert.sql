{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='customer_id', on_schema_change='append_new_columns') }}
select customer_id, segment, updated_at from {{ ref('stg_customers') }}
{% if is_incremental() %} where updated_at >= (select max(updated_at) from {{ this }}) {% endif %}
