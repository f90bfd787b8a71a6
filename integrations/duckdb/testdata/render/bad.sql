SELECT 1;
SELECT * FROM {{ ref("ok") }} WHERE x = 'prefix-{{ partition_key }}';
