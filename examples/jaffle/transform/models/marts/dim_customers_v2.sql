-- v2 splits the name and adds lifetime value and web activity.
with activity as (
    select customer_id, count(*) as events, max(occurred_at) as last_seen_at
    from {{ ref('stg_events') }}
    group by 1
)

select
    c.customer_id,
    c.first_name,
    c.last_name,
    c.country,
    count(o.order_id) as orders,
    coalesce(sum(o.amount), 0) as lifetime_value,
    coalesce(max(a.events), 0) as events,
    max(a.last_seen_at) as last_seen_at
from {{ ref('stg_customers') }} c
left join {{ ref('fct_orders') }} o using (customer_id)
left join activity a using (customer_id)
group by 1, 2, 3, 4
