-- This run's findings (rd_is_finding), from the staged situations table
-- (situations_out, the rows of situations.parquet): the report's new /
-- resolved / persisting split (report/history_counts.sql) reads them, and
-- history/write_findings.sql hands them to the history (history.py).
CREATE OR REPLACE TEMP TABLE run_findings AS
SELECT rd_finding(situation, sync, endpoint_key, identity_key) AS finding_key,
       situation, sync, endpoint_key, identity_key
FROM situations_out
-- the rows of situations.csv first (a test on the rank and drift count alone,
-- so that the spelled situation and sync are made for those rows only)
WHERE (rank <> rd_rank('linked') OR drift_attributes > 0) AND rd_is_finding(situation, sync);
