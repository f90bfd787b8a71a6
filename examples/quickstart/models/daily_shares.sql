-- daily_shares: one row per trading day, built one daily partition at a
-- time (materialize: incremental, partition_column: date). elt deletes the
-- partition's rows and inserts these in one transaction, so re-running a
-- day gives the same table.
SELECT
    date,
    count(*)                      AS trades,
    round(avg(share_price), 2)    AS avg_share_price,
    round(min(share_price), 2)    AS low,
    round(max(share_price), 2)    AS high,
    sum(amount)                   AS total_amount,
    round(sum(spend), 2)          AS total_spend,
    round(avg(spread), 3)         AS avg_spread
FROM {{ ref("raw_data") }}
WHERE date >= {{ partition_start }}
  AND date <  {{ partition_end }}
GROUP BY date
