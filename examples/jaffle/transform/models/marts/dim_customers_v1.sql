select
    c.customer_id,
    c.first_name || ' ' || c.last_name as name,
    count(o.order_id) as orders
from {{ ref('stg_customers') }} c
left join {{ ref('fct_orders') }} o using (customer_id)
group by 1, 2
