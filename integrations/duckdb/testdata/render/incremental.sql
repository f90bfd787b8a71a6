-- daily aggregate for one partition
SELECT date, avg(share_price) AS avg_price
FROM {{ ref("raw_data") }}
WHERE date >= {{ partition_start }}
  AND date < {{ partition_end }}
  AND note <> ';' -- a semicolon in a string is not a split
GROUP BY date
