-- situations_staged (results/situations_staged.sql) holds everything later
-- steps need of the situation table: dropped now, it leaves the memory to
-- them.
-- (IF EXISTS: with [engine] kind = "spark" the table stayed on Spark, and only the
-- staged table was handed over: engine/steps.HAND_OVER)
DROP TABLE IF EXISTS situation;
-- A row's sync and drift count, spelled from its rank and drift count n as
-- situations.parquet writes them (docs/outputs.md): for linked and correlated
-- pairs only.
CREATE OR REPLACE TEMP MACRO rd_out_sync(rank, n) AS
    CASE WHEN rank IN (rd_rank('linked'), rd_rank('correlated')) THEN
        CASE WHEN coalesce(n, 0) > 0 THEN 'drifted' ELSE 'in_sync' END
    END;
CREATE OR REPLACE TEMP MACRO rd_out_drift(rank, n) AS
    CASE WHEN rank IN (rd_rank('linked'), rd_rank('correlated')) THEN
        CAST(coalesce(n, 0) AS BIGINT)
    END;
-- situations_out: the staged table as situations.parquet spells it, but for
-- the DN: pos is the row's place in the file (the table's rowid). The plan, the
-- report and the history read it, never the file.
CREATE OR REPLACE TEMP VIEW situations_out AS
SELECT
    rowid AS pos,
    rank,
    rd_situations()[rank] AS situation,
    rd_out_sync(rank, n) AS sync,
    endpoint_key,
    identity_key,
    rule,
    candidates,
    rd_out_drift(rank, n) AS drift_attributes,
    ep_row AS endpoint_record,
    id_row AS identity_record
FROM situations_staged;
-- The accounts' DNs, read from the endpoint snapshot by record number for the
-- rows that show them (the plan's, the report's): filter on the bare
-- file_row_number so that the scan skips what it can. A table macro, as the
-- DN's column ({{dn}}) is the config's.
CREATE OR REPLACE TEMP MACRO endpoint_dns(path) AS TABLE
SELECT CAST(file_row_number AS BIGINT) + 1 AS endpoint_record, file_row_number,
       {{dn}} AS endpoint_dn
FROM read_parquet(path, file_row_number = true);
