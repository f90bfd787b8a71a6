with payments as (
    select
        p.order_id,
        sum(p.amount) as amount,
        sum(case when m.is_gift then p.amount else 0 end) as gift_card_amount
    from {{ ref('stg_payments') }} p
    left join {{ ref('payment_methods') }} m using (payment_method)
    group by 1
)

select
    o.order_id,
    o.customer_id,
    o.order_date,
    o.status,
    coalesce(p.amount, 0) as amount,
    coalesce(p.gift_card_amount, 0) as gift_card_amount
from {{ ref('stg_orders') }} o
left join payments p using (order_id)
