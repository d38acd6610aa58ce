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
--
-- Memory and time (benchmarks/NOTES.md, "drift under the default memory
-- limit"): every distinct value is normalised once, into a small dictionary
-- (`norms`), and each value looks its normal form up there. No join pairs the
-- values of one side with those of the other: an earlier version joined the
-- normalised values of both sides per attribute, which DuckDB planned as an
-- all-pairs join of the set elements (n x n per set), 9 million rows for
-- 98,000 drifted pairs, and it ran out of the default 1GB.
CREATE OR REPLACE TEMP TABLE drift AS
WITH e AS (
    SELECT CAST(file_row_number AS BIGINT) + 1 AS ep_row, {{key}} AS ep_key{{endpoint_columns}}
    FROM read_parquet($endpoint_path, file_row_number = true)
    WHERE file_row_number IN (SELECT ep_row - 1 FROM drift_pairs)
),
r AS (
    SELECT CAST(file_row_number AS BIGINT) + 1 AS id_row{{repository_columns}}
    FROM read_parquet($repository_path, file_row_number = true)
    WHERE file_row_number IN (SELECT id_row - 1 FROM drift_pairs)
),
-- each drifted pair's raw values, both sides side by side: columns e1..eN, r1..rN
-- (recondiff/engine/drift.py names them; eI is the endpoint side of [[attribute]] #I)
wide AS MATERIALIZED (
    SELECT * FROM drift_pairs JOIN e USING (ep_row) JOIN r USING (id_row)
),
-- one row per pair and attribute whose raw values differ: both sides' values as
-- lists (a single value as a one-element list). One SELECT per attribute
-- (recondiff/engine/drift.py writes them): building every pair's list of all
-- its attributes' lists and unnesting it cost more than the rest of drift.
attrs AS (
{{attributes}}
),
-- Equal raw values are equal normalised values: only the others are normalised.
-- A single-valued kind compares its values joined with ';' as one value (e_raw,
-- r_raw); a set kind, its elements.
long AS MATERIALIZED (
    SELECT
        ep_row, identity_key, situation, ep_key, attr_idx, compare, is_set, e_vals, r_vals,
        CASE WHEN NOT is_set THEN nullif(
            CASE WHEN len(e_vals) = 1 THEN e_vals[1] ELSE array_to_string(e_vals, ';') END, '')
        END AS e_raw,
        CASE WHEN NOT is_set THEN nullif(
            CASE WHEN len(r_vals) = 1 THEN r_vals[1] ELSE array_to_string(r_vals, ';') END, '')
        END AS r_raw
    FROM (
        SELECT *, compare IN ('set', 'casefold_set', 'dn_set') AS is_set
        FROM (SELECT *, ($kinds::VARCHAR[])[attr_idx] AS compare FROM attrs)
    )
),
elements AS (
    SELECT ep_row, attr_idx, compare, true AS on_endpoint, unnest(e_vals) AS raw
    FROM long WHERE is_set
    UNION ALL
    SELECT ep_row, attr_idx, compare, false, unnest(r_vals)
    FROM long WHERE is_set
),
-- Every distinct value to compare, normalised once (group names, titles and
-- departments repeat across accounts). The norm slot is rd_norm for the config's kinds
-- (engine/slots.norm_of), and appears once in this query (it
-- is a large macro, and every use adds to planning).
norms AS MATERIALIZED (
    SELECT compare, raw, {{norm}} AS norm
    FROM (
        SELECT compare, e_raw AS raw FROM long WHERE NOT is_set
        UNION SELECT compare, r_raw FROM long WHERE NOT is_set
        UNION SELECT compare, raw FROM elements
    )
    WHERE raw IS NOT NULL
),
changed AS (
    SELECT
        l.ep_row, l.ep_key, l.identity_key, l.situation, l.attr_idx, l.compare,
        'changed' AS kind, l.e_raw AS endpoint_value, l.r_raw AS repository_value,
        -- the raw value lists too, for the plan's delete-old/add-new changes
        l.e_vals AS endpoint_values, l.r_vals AS repository_values
    FROM long l
    LEFT JOIN norms ne ON ne.compare = l.compare AND ne.raw = l.e_raw
    LEFT JOIN norms nr ON nr.compare = l.compare AND nr.raw = l.r_raw
    WHERE NOT l.is_set AND ne.norm IS DISTINCT FROM nr.norm
),
sets AS (
    -- per set attribute and normalised value: the first spelling on each side
    SELECT el.ep_row, el.attr_idx, n.norm,
           min(el.raw) FILTER (WHERE el.on_endpoint) AS e_raw,
           min(el.raw) FILTER (WHERE NOT el.on_endpoint) AS r_raw
    FROM elements el
    JOIN norms n ON n.compare = el.compare AND n.raw = el.raw
    WHERE n.norm IS NOT NULL
    GROUP BY el.ep_row, el.attr_idx, n.norm
),
set_changes AS (
    SELECT
        l.ep_row, l.ep_key, l.identity_key, l.situation, l.attr_idx, l.compare,
        CASE WHEN s.e_raw IS NOT NULL THEN 'added' ELSE 'removed' END AS kind,
        s.e_raw AS endpoint_value, s.r_raw AS repository_value,
        CAST(NULL AS VARCHAR[]) AS endpoint_values, CAST(NULL AS VARCHAR[]) AS repository_values
    FROM sets s
    JOIN long l USING (ep_row, attr_idx)
    WHERE (s.e_raw IS NULL) <> (s.r_raw IS NULL)
)
SELECT
    d.ep_row, d.ep_key, d.identity_key, d.situation, d.attr_idx,
    ($attributes::VARCHAR[])[d.attr_idx] AS attribute,
    ($repository_attributes::VARCHAR[])[d.attr_idx] AS repository_attribute,
    d.compare, d.kind, d.endpoint_value, d.repository_value,
    d.endpoint_values, d.repository_values
FROM (SELECT * FROM changed UNION ALL SELECT * FROM set_changes) d;
