select 1 as failure from (select count(*) as n from {{ ref('items') }}) where n = 0
