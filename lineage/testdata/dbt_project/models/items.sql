select id, loaded_from from {{ ref('stg_items') }}
