-- Action plan, step 4b (1/2): the owner candidates of the accounts that have
-- some (classify/owner_hits.sql): each with the rules that matched it and how
-- many compared attributes agree (both sides normalised by the attribute's
-- compare kind, read for just these records), best first, at most
-- $max_candidates. Run only when owner_hit has rows (plan/owner_hit_count.sql);
-- else plan/owner_candidates_none.sql makes the table empty.
CREATE OR REPLACE TEMP TABLE plan_owner_candidates AS
WITH wanted AS (
    SELECT endpoint_record AS ep_row
    FROM plan_row
    WHERE list_contains($owner_situations::VARCHAR[], situation) AND endpoint_record IS NOT NULL
),
hit AS (
    SELECT h.* FROM owner_hit h SEMI JOIN wanted w ON w.ep_row = h.ep_row
),
e AS (
    SELECT CAST(file_row_number AS BIGINT) + 1 AS ep_row, {{endpoint_values}} AS vals
    FROM read_parquet($endpoint_path, file_row_number = true)
    -- on the bare file_row_number, so that the scan filters (drift/differences.sql)
    -- (owner_hit, a table, not the CTE: then DuckDB pushes the rows into the scan)
    WHERE file_row_number IN (SELECT ep_row - 1 FROM owner_hit)
),
r AS (
    SELECT CAST(file_row_number AS BIGINT) + 1 AS id_row, {{repository_values}} AS vals
    FROM read_parquet($repository_path, file_row_number = true)
    WHERE file_row_number IN (SELECT id_row - 1 FROM owner_hit)
),
mapping AS (
    SELECT generate_subscripts($kinds::VARCHAR[], 1) AS attr_idx,
           unnest($kinds::VARCHAR[]) AS compare
),
-- every value to normalise, once, as drift/differences.sql does: a set kind's
-- values one by one, a single-valued kind's joined with ';' (rd_norm, a large
-- macro, appears once: planning it per attribute cost seconds)
items AS (
    SELECT 'e' AS side, e.ep_row AS rec, m.attr_idx, m.compare,
           unnest(CASE WHEN m.compare IN ('set', 'casefold_set', 'dn_set') THEN e.vals[m.attr_idx]
                       ELSE [nullif(array_to_string(e.vals[m.attr_idx], ';'), '')] END) AS raw
    FROM e CROSS JOIN mapping m  -- records x attributes, as drift/differences.sql
    UNION ALL
    SELECT 'r', r.id_row, m.attr_idx, m.compare,
           unnest(CASE WHEN m.compare IN ('set', 'casefold_set', 'dn_set') THEN r.vals[m.attr_idx]
                       ELSE [nullif(array_to_string(r.vals[m.attr_idx], ';'), '')] END)
    FROM r CROSS JOIN mapping m
),
normed AS MATERIALIZED (
    SELECT side, rec, attr_idx, {{norm}} AS norm FROM items
),
-- per record and attribute, what is compared: the value, or the set of values
compared AS (
    SELECT side, rec, attr_idx,
           array_to_string(list_sort(list_distinct(list(norm))), chr(31)) AS value
    FROM normed
    WHERE norm IS NOT NULL
    GROUP BY side, rec, attr_idx
),
-- each record's compared values as one list of "attribute index RS value" items:
-- the attributes that agree are the items both lists hold (a join per
-- attribute would let the optimiser pair every account with every identity)
signature AS (
    SELECT side, rec, list(CAST(attr_idx AS VARCHAR) || chr(30) || value) AS items
    FROM compared
    GROUP BY side, rec
),
scored AS (
    SELECT h.ep_row, h.identity_key, h.rules,
           coalesce(len(list_intersect(se.items, sr.items)), 0) AS agreeing
    FROM hit h
    LEFT JOIN signature se ON se.side = 'e' AND se.rec = h.ep_row
    LEFT JOIN signature sr ON sr.side = 'r' AND sr.rec = h.id_row
),
ranked AS (
    -- each matched rule outweighs every compared attribute
    SELECT *, len(rules) * (len($kinds::VARCHAR[]) + 1) + agreeing AS score
    FROM scored
    QUALIFY row_number() OVER (PARTITION BY ep_row
                               ORDER BY len(rules) * (len($kinds::VARCHAR[]) + 1) + agreeing DESC,
                                        identity_key) <= $max_candidates
),
candidates AS (
    SELECT ep_row,
           list({'agreeing': agreeing, 'identity_key': identity_key, 'rules': rules,
                 'score': score} ORDER BY score DESC, identity_key) AS candidates
    FROM ranked
    GROUP BY ep_row
)
SELECT * FROM candidates;
