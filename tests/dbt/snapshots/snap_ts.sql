{% snapshot snap_ts %}
{{ config(unique_key='customer_id', strategy='timestamp', updated_at='updated_at') }}
select customer_id, segment, updated_at from {{ source('shop', 'customers') }}
{% endsnapshot %}
