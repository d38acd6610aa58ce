-- This run's findings (history/run_findings.sql) for the history
-- (history/record_findings.sql), written into the run's work directory.
COPY run_findings TO $path (FORMAT parquet);
