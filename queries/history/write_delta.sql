-- The accounts of an incremental run (history/run_delta.sql; none in a full
-- run) for the history (history/record_findings.sql), in the work directory.
COPY run_delta TO $path (FORMAT parquet);
