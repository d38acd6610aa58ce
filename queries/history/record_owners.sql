-- The identity -> account pairs of this run (linked, correlated, and those
-- whose identity is deleted), for the vanished-identity rule of the next run
-- (classify/vanished.sql). Written as raw keys to a Parquet file of their own beside
-- the history (recondiff/history.py): the next run folds them. Inserting the
-- folded pairs into history.duckdb was six times slower (benchmarks/NOTES.md).
COPY (
    SELECT $run_id AS run_id, identity_key, endpoint_key
    FROM read_parquet($situations_parquet)
    WHERE situation IN ('linked', 'correlated', 'deleted_in_repository')
      AND identity_key IS NOT NULL AND endpoint_key IS NOT NULL
) TO $path (FORMAT parquet);
