{# Custom schemas as written (marts, not main_marts), so elt's asset keys
   [marts, fct_orders] name the relation marts.fct_orders. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name else target.schema }}
{%- endmacro %}
