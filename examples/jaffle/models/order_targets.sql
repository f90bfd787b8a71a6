-- elt's own SQL asset in the embedded DuckDB: a daily order target from the
-- raw orders Sling loaded. The dbt model order_performance selects from it.
SELECT CAST(order_date AS DATE) AS order_date,
       CAST(4 AS INTEGER)       AS target_orders
FROM {{ ref("raw/orders") }}
GROUP BY 1
