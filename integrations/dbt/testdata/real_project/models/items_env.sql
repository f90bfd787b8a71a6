-- The partition window read from the environment (partition_vars: {via: env}).
select id, day
from {{ ref('stg_items') }}
where day >= cast('{{ env_var("ELT_PARTITION_START", "1970-01-01") }}' as timestamp)
  and day < cast('{{ env_var("ELT_PARTITION_END", "2999-01-01") }}' as timestamp)
