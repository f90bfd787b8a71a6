-- share_summary: one row per month over every day loaded so far
-- (materialize: table, rebuilt on each run).
SELECT
    date_trunc('month', date)::DATE   AS month,
    count(*)                          AS days,
    round(min(low), 2)                AS low,
    round(max(high), 2)               AS high,
    round(avg(avg_share_price), 2)    AS avg_share_price,
    sum(total_amount)                 AS total_amount,
    round(sum(total_spend), 2)        AS total_spend
FROM {{ ref("daily_shares") }}
GROUP BY 1
ORDER BY 1
