-- Correlation, step 2: per account to correlate and per rule, its normalised
-- values, read from the endpoint snapshot for just these accounts. Also
-- creates the (empty) table of the identities' values that step 3 fills rule
-- by rule, or leaves empty when no account has a value to look for.
CREATE OR REPLACE TEMP TABLE corr_repo_values (id_row BIGINT, rule_idx BIGINT, value VARCHAR);

CREATE OR REPLACE TEMP TABLE corr_ep_values AS
SELECT DISTINCT ep_row, rule_idx, value
FROM (
    SELECT ep_row, rule_idx, unnest(vals) AS value
    FROM (
        SELECT ep_row, generate_subscripts(corr, 1) AS rule_idx, unnest(corr) AS vals
        FROM (
            SELECT CAST(file_row_number AS BIGINT) + 1 AS ep_row, {{endpoint_values}} AS corr
            FROM read_parquet($endpoint_path, file_row_number = true)
            -- bare file_row_number: the scan filters (drift/differences.sql says why)
            WHERE file_row_number IN (SELECT ep_row - 1 FROM corr_todo)
        )
    )
)
WHERE value IS NOT NULL;
