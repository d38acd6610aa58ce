-- The accounts an incremental run judged ($incremental: its endpoint snapshot
-- holds only the accounts changed since some time, docs/explore.md
-- "Incremental runs"): every endpoint record of the run, by folded key. Empty
-- in a full run. Read by report/history_counts.sql and, through
-- history/write_delta.sql, by history/record_findings.sql and
-- history/record_owners_carried.sql.
CREATE OR REPLACE TEMP TABLE run_delta AS
SELECT DISTINCT rd_key(endpoint_key) AS account
FROM situations_out
WHERE $incremental AND endpoint_record IS NOT NULL AND rd_key(endpoint_key) IS NOT NULL;
