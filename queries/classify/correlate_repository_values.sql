-- Correlation, step 3: the in-scope identities' normalised values that some
-- account to correlate is looking for (everything else cannot match).
CREATE OR REPLACE TEMP TABLE corr_repo_values AS
SELECT DISTINCT v.id_row, v.rule_idx, v.value
FROM (
    SELECT id_row, rule_idx, unnest(vals) AS value
    FROM (
        SELECT id_row, generate_subscripts(corr, 1) AS rule_idx, unnest(corr) AS vals
        FROM (
            SELECT CAST(file_row_number AS BIGINT) + 1 AS id_row, {{repository_values}} AS corr
            FROM read_parquet($repository_path, file_row_number = true)
            WHERE (SELECT count(*) FROM corr_ep_values) > 0
        )
    )
) v
SEMI JOIN corr_ep_values e ON e.rule_idx = v.rule_idx AND e.value = v.value
SEMI JOIN repo r ON r.id_row = v.id_row;
