CREATE TABLE IF NOT EXISTS {{ this }} (
    date DATE,
    share_price FLOAT
);
DELETE FROM {{ this }};
COPY {{ this }} FROM '{{ env("SHARES_FILE") }}';
INSERT INTO audit VALUES ({{ partition_key }}, {{ env("TOKEN") }}, $$literal; {{ not a template }}$$);
