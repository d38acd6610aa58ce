-- Action plan, step 3b: the entryUUID (OpenLDAP, 389-DS) or objectGUID (AD) of
-- every account the plan acts on, as the endpoint export holds it (recondiff/plan/
-- names the column). Events on an existing entry assert it, so that an entry
-- deleted and re-created under the same DN (another person) is stale.
CREATE OR REPLACE TEMP TABLE plan_uuid AS
SELECT CAST(file_row_number AS BIGINT) + 1 AS ep_row,
       nullif(trim({{uuid}}), '')          AS uuid
FROM read_parquet($endpoint_path, file_row_number = true)
-- on the bare file_row_number, so that the scan filters (as in drift/differences.sql)
WHERE file_row_number IN (
    SELECT endpoint_record - 1 FROM plan_row WHERE endpoint_record IS NOT NULL
);
