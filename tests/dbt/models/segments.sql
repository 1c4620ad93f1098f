{{ config(materialized='table') }}
select segment, count(*) as n from {{ ref('stg_customers') }} group by segment
