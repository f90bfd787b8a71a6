-- Orders per day against the targets that elt's own SQL asset computed
-- (analytics.order_targets, written by elt's embedded DuckDB).
select
    t.order_date,
    t.target_orders,
    count(o.order_id) as orders,
    count(o.order_id) >= t.target_orders as on_target
from {{ source('analytics', 'order_targets') }} t
left join {{ ref('fct_orders') }} o on o.order_date = t.order_date
group by 1, 2
