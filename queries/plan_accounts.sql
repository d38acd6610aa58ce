-- Action plan, step 3: the raw values of the accounts the plan deletes,
-- disables or copies into the repository (those in $situations): every mapped
-- attribute (for the preconditions) and the extra columns the disable method
-- needs, read from the endpoint snapshot for just those records.
SELECT
    CAST(file_row_number AS BIGINT) + 1 AS ep_row,
    {{values}}                          AS vals,
    {{extra}}                           AS extra
FROM read_parquet($endpoint_path, file_row_number = true)
WHERE CAST(file_row_number AS BIGINT) + 1 IN (
    SELECT ep_row FROM situation WHERE list_contains($situations::VARCHAR[], situation)
);
