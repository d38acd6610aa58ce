-- The findings of one run, with the time each was first seen, written to a
-- Parquet file that compare's own connection loads (history/load_findings.sql).
COPY (
    SELECT finding_key, situation, sync, endpoint_key, identity_key, first_seen
    FROM findings WHERE run_id = $run_id
) TO $path (FORMAT parquet);
