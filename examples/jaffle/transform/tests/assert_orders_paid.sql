-- Every order is paid at least JAFFLE_MIN_ORDER_AMOUNT (0 unless set): an
-- error-severity test, so a failure blocks the export downstream of
-- fct_orders. `JAFFLE_MIN_ORDER_AMOUNT=50 elt run` makes it fail.
{{ config(severity='error') }}
select order_id, amount
from {{ ref('fct_orders') }}
where amount < {{ env_var('JAFFLE_MIN_ORDER_AMOUNT', '0') or '0' }}
