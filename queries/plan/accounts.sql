-- Action plan, step 3: the values of the accounts the plan deletes, disables
-- or copies into the repository: every mapped attribute (for the
-- preconditions; without blanks and repeats) and the extra column the disable
-- method needs, read from the endpoint snapshot for just those records.
CREATE OR REPLACE TEMP TABLE plan_account AS
SELECT
    CAST(file_row_number AS BIGINT) + 1                 AS ep_row,
    {{values}}                                          AS vals,  -- rd_clean of each
    rd_clean({{extra}})                                 AS extra
FROM read_parquet($endpoint_path, file_row_number = true)
-- on the bare file_row_number, so that the scan filters (as in drift/differences.sql)
WHERE file_row_number IN (
    SELECT endpoint_record - 1 FROM plan_row
    WHERE action IN ('delete_from_endpoint', 'disable_in_endpoint', 'add_to_repository')
);
