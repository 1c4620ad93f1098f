{#- Models land in exactly the schema their folder names (staging, features), not in
    dbt's default "<target schema>_<custom schema>", so the compiled SQL the demo ships and the
    relations dbt builds have the same names. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
