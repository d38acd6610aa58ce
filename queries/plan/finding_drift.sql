-- Action plan, step 4b: the finding key (macros/situations.sql rd_finding_key)
-- of every drift row: the pair's account and identity, its situation, the
-- attribute type ($finding_attrs: one per [[attribute]], recondiff/plan/findings.py)
-- and the row's values on both sides, normalised by the attribute's compare
-- kind, without "no value", sorted (repeats kept). plan/suppress.sql drops the
-- rows an exception accepts;
-- plan/events.sql writes the others' keys into their events.
CREATE OR REPLACE TEMP TABLE plan_drift_finding AS
WITH names AS (
    SELECT generate_subscripts($finding_attrs::VARCHAR[], 1) AS attr_idx,
           unnest($finding_attrs::VARCHAR[])                  AS finding_attr
),
-- every value of both sides as a row, normalised as a column and gathered
-- again: rd_norm inside a list lambda runs row by row, several times slower,
-- and written once it is planned once (a large macro)
items AS (
    SELECT pos, 'e' AS side, compare,
           unnest(coalesce(endpoint_values, [endpoint_value])) AS raw
    FROM plan_drift_row
    UNION ALL
    SELECT pos, 'r', compare, unnest(coalesce(repository_values, [repository_value]))
    FROM plan_drift_row
),
normed AS (
    SELECT pos, side, {{norm}} AS norm FROM items
),
sides AS (
    SELECT pos,
           list_sort(list(norm) FILTER (WHERE side = 'e' AND norm IS NOT NULL)) AS e_vals,
           list_sort(list(norm) FILTER (WHERE side = 'r' AND norm IS NOT NULL)) AS r_vals
    FROM normed
    GROUP BY pos
)
SELECT d.pos,
       rd_finding_key(r.endpoint_key, r.identity_key, u.uuid, r.situation, n.finding_attr,
                      {'kind': d.kind,
                       'endpoint': coalesce(s.e_vals, CAST([] AS VARCHAR[])),
                       'repository': coalesce(s.r_vals, CAST([] AS VARCHAR[]))}) AS finding_key
FROM plan_drift_row d
JOIN plan_row r ON r.endpoint_record = d.ep_row
JOIN names n USING (attr_idx)
LEFT JOIN sides s USING (pos)
LEFT JOIN plan_uuid u ON u.ep_row = d.ep_row;
