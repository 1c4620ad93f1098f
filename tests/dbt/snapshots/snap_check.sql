{% snapshot snap_check %}
{{ config(unique_key='customer_id', strategy='check', check_cols=['segment']) }}
select customer_id, segment from {{ source('shop', 'customers') }}
{% endsnapshot %}
