-- Action plan, step 4c: the finding key of every situations row the plan acts
-- on or lists for attention (not of a drifted pair the plan only fixes: its
-- drift rows have keys of their own, plan/finding_drift.sql). The values are
-- every mapped attribute of the account and of its identity, each normalised
-- by its compare kind and sorted, and the candidates: an unmatched account
-- that gains a group, or an ambiguous one that gains a candidate, is another
-- finding. Both snapshots are read for just those records.
CREATE OR REPLACE TEMP TABLE plan_row_finding AS
WITH acting AS (
    SELECT r.ord, r.situation, r.endpoint_key, r.identity_key, r.candidates, r.endpoint_record,
           s.identity_record
    FROM plan_row r
    JOIN read_parquet($situations_parquet, file_row_number = true) s
      ON s.file_row_number = r.ord
    WHERE r.action IS NOT NULL OR r.sync IS DISTINCT FROM 'drifted'
),
e AS (
    SELECT CAST(file_row_number AS BIGINT) + 1 AS ep_row, {{endpoint_values}} AS vals
    FROM read_parquet($endpoint_path, file_row_number = true)
    WHERE file_row_number IN (SELECT endpoint_record - 1 FROM acting)
),
i AS (
    SELECT CAST(file_row_number AS BIGINT) + 1 AS id_row, {{repository_values}} AS vals
    FROM read_parquet($repository_path, file_row_number = true)
    WHERE file_row_number IN (SELECT identity_record - 1 FROM acting)
)
SELECT a.ord,
       rd_finding_key(a.endpoint_key, a.identity_key, u.uuid, a.situation, NULL,
                      {'endpoint': e.vals, 'repository': i.vals,
                       'candidates': list_sort(coalesce(a.candidates, CAST([] AS VARCHAR[])))})
           AS finding_key
FROM acting a
LEFT JOIN e ON e.ep_row = a.endpoint_record
LEFT JOIN i ON i.id_row = a.identity_record
LEFT JOIN plan_uuid u ON u.ep_row = a.endpoint_record;
