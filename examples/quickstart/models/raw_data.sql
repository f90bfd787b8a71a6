-- raw_data: the share prices file loaded as it is (materialize: script).
-- The file comes from the `files` resource in elt.yaml (SHARES_CSV can
-- point elsewhere); relative paths resolve from the project folder.
CREATE TABLE IF NOT EXISTS {{ this }} (
    date        DATE,
    share_price FLOAT,
    amount      FLOAT,
    spend       FLOAT,
    shift       FLOAT,
    spread      FLOAT
);

-- Reload from scratch so re-running the asset does not duplicate rows.
DELETE FROM {{ this }};

COPY {{ this }} FROM '{{ env("ELT_RESOURCE_FILES_SHARES_CSV") }}' (HEADER);
