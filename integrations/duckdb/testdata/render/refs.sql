SELECT o.*, c.name AS "customer ""name"""
FROM {{ ref("raw/orders") }} AS o
JOIN {{ ref("a/b/c") }} AS c ON c.id = o.customer_id /* {{ ref("ignored") }} */
