select 1 as id, '{{ var("min_date", "1970-01-01") }}' as loaded_from
union all
select 2 as id, '{{ var("min_date", "1970-01-01") }}' as loaded_from
