-- Attribute drift, computed only for linked/correlated pairs whose attribute
-- hashes differ (the staging hash settles every other pair as in sync). Both
-- snapshots are read again for just those records.
--   single-valued kinds: one 'changed' row when the normalised values differ;
--   set kinds: one 'added' row per value only on the endpoint, one 'removed'
--   row per value only in the repository.
-- Values are reported as the sources spell them; a multi-valued column under a
-- single-valued kind shows its values joined with ';'.
CREATE OR REPLACE TEMP TABLE drift AS
WITH pairs AS (
    SELECT * FROM drift_pairs
),
mapping AS (
    SELECT
        generate_subscripts($kinds::VARCHAR[], 1)     AS attr_idx,
        unnest($kinds::VARCHAR[])                     AS compare,
        unnest($attributes::VARCHAR[])                AS attribute,
        unnest($repository_attributes::VARCHAR[])     AS repository_attribute
),
e AS (
    SELECT CAST(file_row_number AS BIGINT) + 1 AS ep_row, {{key}} AS ep_key, {{values}} AS vals
    FROM read_parquet($endpoint_path, file_row_number = true)
    WHERE CAST(file_row_number AS BIGINT) + 1 IN (SELECT ep_row FROM drift_pairs)
),
r AS (
    SELECT CAST(file_row_number AS BIGINT) + 1 AS id_row, {{repository_values}} AS vals
    FROM read_parquet($repository_path, file_row_number = true)
    WHERE CAST(file_row_number AS BIGINT) + 1 IN (SELECT id_row FROM drift_pairs)
),
long AS (
    SELECT p.*, e.ep_key, m.*, e.vals[m.attr_idx] AS e_vals, r.vals[m.attr_idx] AS r_vals
    FROM pairs p
    JOIN e USING (ep_row)
    JOIN r USING (id_row)
    CROSS JOIN mapping m
    -- equal raw values are equal normalised values: only the others are normalised
    WHERE e.vals[m.attr_idx] IS DISTINCT FROM r.vals[m.attr_idx]
),
changed AS (
    SELECT
        ep_row, ep_key, identity_key, situation, attr_idx, attribute, repository_attribute, compare,
        'changed' AS kind,
        nullif(array_to_string(e_vals, ';'), '') AS endpoint_value,
        nullif(array_to_string(r_vals, ';'), '') AS repository_value
    FROM long
    WHERE compare NOT IN ('set', 'casefold_set', 'dn_set')
      AND rd_norm(array_to_string(e_vals, ';'), compare)
          IS DISTINCT FROM rd_norm(array_to_string(r_vals, ';'), compare)
),
e_set AS (
    SELECT ep_row, attr_idx, norm, min(v) AS raw
    FROM (
        SELECT ep_row, attr_idx, v, rd_norm(v, compare) AS norm
        FROM (SELECT ep_row, attr_idx, compare, unnest(e_vals) AS v
              FROM long WHERE compare IN ('set', 'casefold_set', 'dn_set'))
    )
    WHERE norm IS NOT NULL
    GROUP BY ep_row, attr_idx, norm
),
r_set AS (
    SELECT ep_row, attr_idx, norm, min(v) AS raw
    FROM (
        SELECT ep_row, attr_idx, v, rd_norm(v, compare) AS norm
        FROM (SELECT ep_row, attr_idx, compare, unnest(r_vals) AS v
              FROM long WHERE compare IN ('set', 'casefold_set', 'dn_set'))
    )
    WHERE norm IS NOT NULL
    GROUP BY ep_row, attr_idx, norm
),
set_changes AS (
    SELECT
        coalesce(es.ep_row, rs.ep_row) AS ep_row,
        coalesce(es.attr_idx, rs.attr_idx) AS attr_idx,
        CASE WHEN rs.norm IS NULL THEN 'added' ELSE 'removed' END AS kind,
        es.raw AS endpoint_value,
        rs.raw AS repository_value
    FROM e_set es
    FULL OUTER JOIN r_set rs ON es.ep_row = rs.ep_row AND es.attr_idx = rs.attr_idx AND es.norm = rs.norm
    WHERE es.norm IS NULL OR rs.norm IS NULL
)
SELECT * FROM changed
UNION ALL
SELECT
    sc.ep_row, e.ep_key, p.identity_key, p.situation, sc.attr_idx, m.attribute,
    m.repository_attribute, m.compare, sc.kind, sc.endpoint_value, sc.repository_value
FROM set_changes sc
JOIN pairs p USING (ep_row)
JOIN e USING (ep_row)
JOIN mapping m USING (attr_idx);
