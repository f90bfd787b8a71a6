select id, {{ elt_helpers.cents('amount') }} as amount_cents, day from {{ ref('raw_items') }}
