-- situations.parquet and .csv hold the DNs now: the staged table drops them
-- (the longest column), the plan and the report read the few they show from
-- the snapshot (endpoint_dns, results/release_situation_table.sql).
ALTER TABLE situations_staged DROP COLUMN endpoint_dn;
