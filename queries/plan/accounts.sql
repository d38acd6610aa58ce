-- Action plan, step 3: the endpoint records the plan acts on or lists for
-- attention, read from the endpoint snapshot once for just those records (a
-- second scattered read of the same file cost as much as the first):
-- finding_vals, every mapped attribute as the finding key takes it
-- (plan/finding_accounts.sql: recondiff/plan/findings.py), and for the accounts
-- the plan deletes, disables or copies into the repository, every mapped
-- attribute (vals, for the preconditions; without blanks and repeats) and the
-- extra column the disable method needs (NULL for the other records, as if
-- they were not read).
CREATE OR REPLACE TEMP TABLE plan_account AS
SELECT
    CAST(file_row_number AS BIGINT) + 1                 AS ep_row,
    CASE WHEN rd_plan_is_account THEN {{values}} END            AS vals,  -- rd_clean of each
    CASE WHEN rd_plan_is_account THEN rd_clean({{extra}}) END   AS extra,
    {{finding_values}}                                  AS finding_vals
FROM (
    SELECT *,
           file_row_number IN (
               SELECT endpoint_record - 1 FROM plan_row
               WHERE action IN ('delete_from_endpoint', 'disable_in_endpoint', 'add_to_repository')
           ) AS rd_plan_is_account
    FROM read_parquet($endpoint_path, file_row_number = true)
    -- on the bare file_row_number, so that the scan filters (as in drift/differences.sql)
    WHERE file_row_number IN (
        SELECT endpoint_record - 1 FROM plan_row
        WHERE action IS NOT NULL OR sync IS DISTINCT FROM 'drifted'
    )
);
