{{ config(materialized='table', tags=['mart']) }}
-- The partition window: elt passes min_date and max_date with --vars.
select id, amount_cents, day
from {{ ref('stg_items') }}
where day >= cast('{{ var("min_date", "1970-01-01") }}' as timestamp)
  and day < cast('{{ var("max_date", "2999-01-01") }}' as timestamp)
