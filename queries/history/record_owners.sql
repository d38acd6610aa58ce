-- The identity -> account pairs of this run (linked, correlated, and those
-- whose identity is deleted), for the vanished-identity rule of the next run
-- (classify/vanished.sql), from the staged situations table (situations_out).
-- Written by the run's connection as raw keys to a Parquet file in its work
-- directory, which recondiff/history.py puts beside the history once the run is
-- recorded: the next run folds them. Inserting the folded pairs into
-- history.duckdb was six times slower (benchmarks/NOTES.md).
COPY (
    SELECT $run_id AS run_id, identity_key, endpoint_key
    FROM situations_out
    WHERE rank IN (rd_rank('linked'), rd_rank('correlated'), rd_rank('deleted_in_repository'))
      AND identity_key IS NOT NULL AND endpoint_key IS NOT NULL
) TO $path (FORMAT parquet);
