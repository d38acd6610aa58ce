-- Attribute drift, computed only for linked/correlated pairs whose attribute
-- hashes differ (the staging hash settles every other pair as in sync). Both
-- snapshots are read again for just those records, picked by the bare
-- file_row_number: DuckDB 2.0 then pushes the picked rows into the Parquet
-- scan ("Dynamic Filters: file_row_number IN PRF" in EXPLAIN ANALYZE) and
-- decodes the other columns for those records only. Picked by the record
-- number (file_row_number + 1), it was a semi join after the full scan
-- (the two scans' cost: benchmarks/NOTES.md).
--   single-valued kinds: one 'changed' row when the normalised values differ;
--   set kinds: one 'added' row per value only on the endpoint, one 'removed'
--   row per value only in the repository.
-- Values are reported as the sources spell them; a multi-valued column under a
-- single-valued kind shows its values joined with ';' (and, for the plan, its
-- value lists are kept in endpoint_values/repository_values).
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
    WHERE file_row_number IN (SELECT ep_row - 1 FROM drift_pairs)
),
r AS (
    SELECT CAST(file_row_number AS BIGINT) + 1 AS id_row, {{repository_values}} AS vals
    FROM read_parquet($repository_path, file_row_number = true)
    WHERE file_row_number IN (SELECT id_row - 1 FROM drift_pairs)
),
long AS (
    SELECT
        p.ep_row, p.identity_key, p.situation, e.ep_key, m.*,
        m.compare IN ('set', 'casefold_set', 'dn_set') AS is_set,
        e.vals[m.attr_idx] AS e_vals,
        r.vals[m.attr_idx] AS r_vals
    FROM pairs p
    JOIN e USING (ep_row)
    JOIN r USING (id_row)
    CROSS JOIN mapping m
    -- equal raw values are equal normalised values: only the others are normalised
    WHERE e.vals[m.attr_idx] IS DISTINCT FROM r.vals[m.attr_idx]
),
-- Every value to normalise, once: a set kind's values one by one; a
-- single-valued kind's values joined with ';' as one value. rd_norm appears
-- once in this query (it is a large macro, and every use adds to planning).
items AS (
    SELECT ep_row, attr_idx, compare, is_set, 'e' AS side,
           unnest(CASE WHEN is_set THEN e_vals ELSE [nullif(array_to_string(e_vals, ';'), '')] END)
               AS raw
    FROM long
    UNION ALL
    SELECT ep_row, attr_idx, compare, is_set, 'r',
           unnest(CASE WHEN is_set THEN r_vals ELSE [nullif(array_to_string(r_vals, ';'), '')] END)
    FROM long
),
-- MATERIALIZED: DuckDB otherwise inlines normed into each of its three
-- readers below, normalising every value three times and planning rd_norm
-- three times (most of drift's time was that: benchmarks/NOTES.md).
normed AS MATERIALIZED (
    SELECT ep_row, attr_idx, is_set, side, raw, rd_norm(raw, compare) AS norm FROM items
),
changed AS (
    SELECT
        l.ep_row, l.ep_key, l.identity_key, l.situation, l.attr_idx, l.attribute,
        l.repository_attribute, l.compare, 'changed' AS kind,
        ne.raw AS endpoint_value, nr.raw AS repository_value,
        -- the raw value lists too, for the plan's delete-old/add-new changes
        l.e_vals AS endpoint_values, l.r_vals AS repository_values
    FROM long l
    JOIN normed ne ON ne.ep_row = l.ep_row AND ne.attr_idx = l.attr_idx AND ne.side = 'e'
    JOIN normed nr ON nr.ep_row = l.ep_row AND nr.attr_idx = l.attr_idx AND nr.side = 'r'
    WHERE NOT l.is_set AND ne.norm IS DISTINCT FROM nr.norm
),
sets AS (
    -- per set attribute and normalised value: the first spelling on each side
    SELECT ep_row, attr_idx, norm,
           min(raw) FILTER (WHERE side = 'e') AS e_raw,
           min(raw) FILTER (WHERE side = 'r') AS r_raw,
           bool_or(side = 'e') AS on_endpoint,
           bool_or(side = 'r') AS in_repository
    FROM normed
    WHERE is_set AND norm IS NOT NULL
    GROUP BY ep_row, attr_idx, norm
),
set_changes AS (
    SELECT
        ep_row, attr_idx,
        CASE WHEN on_endpoint THEN 'added' ELSE 'removed' END AS kind,
        CASE WHEN on_endpoint THEN e_raw END AS endpoint_value,
        CASE WHEN in_repository THEN r_raw END AS repository_value
    FROM sets
    WHERE on_endpoint <> in_repository
)
SELECT * FROM changed
UNION ALL
SELECT
    sc.ep_row, l.ep_key, l.identity_key, l.situation, sc.attr_idx, l.attribute,
    l.repository_attribute, l.compare, sc.kind, sc.endpoint_value, sc.repository_value,
    NULL, NULL
FROM set_changes sc
JOIN long l USING (ep_row, attr_idx);
