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
-- the records plan_account_rows.sql picked
WHERE get_bit(getvariable('rd_plan_account_rows'), CAST(file_row_number AS INTEGER)) = 1;
