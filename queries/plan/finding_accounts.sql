-- Action plan, step 4c: the finding key of every situations row the plan acts
-- on or lists for attention (not of a drifted pair the plan only fixes: its
-- drift rows have keys of their own, plan/finding_drift.sql). The values are
-- every mapped attribute of the account and of its identity, each normalised
-- by its compare kind and sorted, and the candidates: an unmatched account
-- that gains a group, or an ambiguous one that gains a candidate, is another
-- finding. So is an account the plan deletes or disables whose lock column
-- (plan/accounts.sql: userAccountControl, pwdAccountLockedTime, the disable
-- column) changed: a disabled orphan kept by a reviewer and enabled again is a
-- worse finding (appended only when set, so an account without one keeps its
-- key). The repository snapshot is read for just those records
-- (plan_row.identity_record: plan/situations.sql); the endpoint's values were
-- read by plan/accounts.sql.
CREATE OR REPLACE TEMP TABLE plan_row_finding AS
WITH i AS (
    SELECT CAST(file_row_number AS BIGINT) + 1 AS id_row, {{repository_values}} AS vals
    FROM read_parquet($repository_path, file_row_number = true)
    WHERE file_row_number IN (
        SELECT identity_record - 1 FROM plan_row
        WHERE action IS NOT NULL OR sync IS DISTINCT FROM 'drifted'
    )
)
SELECT r.ord,
       rd_finding_key(r.endpoint_key, r.identity_key, u.uuid, r.situation, NULL,
                      {'endpoint': CASE WHEN len(coalesce(a.extra, [])) > 0
                                        THEN list_append(a.finding_vals, a.extra)
                                        ELSE a.finding_vals END,
                       'repository': i.vals,
                       'candidates': list_sort(coalesce(r.candidates, CAST([] AS VARCHAR[])))})
           AS finding_key
FROM plan_row r
LEFT JOIN i ON i.id_row = r.identity_record
LEFT JOIN plan_uuid u ON u.ep_row = r.endpoint_record
LEFT JOIN plan_account a ON a.ep_row = r.endpoint_record
WHERE r.action IS NOT NULL OR r.sync IS DISTINCT FROM 'drifted';
