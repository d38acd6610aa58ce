-- Correlation, step 3, once per rule ($rule_idx, its values {{values}}): the
-- in-scope identities' normalised values that some account to correlate is
-- looking for (everything else cannot match). Run only when some account has
-- a value to look for (recondiff/engine/classify.py). One rule's values per
-- scan, not a list of every rule's lists unnested twice: the nested lists
-- cost as much as the normalising (benchmarks/NOTES.md, classify engineer).
INSERT INTO corr_repo_values
SELECT DISTINCT v.id_row, CAST($rule_idx AS BIGINT), v.value
FROM (
    -- normalised in a projection of their own: inside unnest() the values are
    -- computed row by row, ten times slower (EXPLAIN ANALYZE)
    SELECT id_row, unnest(vals) AS value
    FROM (
        SELECT CAST(file_row_number AS BIGINT) + 1 AS id_row, {{values}} AS vals
        FROM read_parquet($repository_path, file_row_number = true)
    )
) v
SEMI JOIN corr_ep_values e ON e.rule_idx = $rule_idx AND e.value = v.value
SEMI JOIN repo r ON r.id_row = v.id_row;
