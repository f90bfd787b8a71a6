select * from {{ ref('bad_model') }}
