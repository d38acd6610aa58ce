-- The ownerships of an incremental run (docs/explore.md "Incremental runs"):
-- as history/record_owners.sql for the accounts in the delta (every endpoint
-- record of the run, by folded key: history/run_delta.sql), and for every
-- other account the pairs of the previous run ($previous_path, rows of
-- $previous_run_id), carried over
-- unchanged under this run's id: those accounts were not looked at, and the
-- vanished-identity rule of the next run (classify/vanished.sql) still needs
-- their owners. A pair of an account in the delta is re-judged: kept only if
-- this run saw it.
COPY (
    SELECT $run_id AS run_id, identity_key, endpoint_key
    FROM situations_out
    WHERE rank IN (rd_rank('linked'), rd_rank('correlated'), rd_rank('deleted_in_repository'))
      AND identity_key IS NOT NULL AND endpoint_key IS NOT NULL
    UNION ALL
    SELECT $run_id, o.identity_key, o.endpoint_key
    FROM read_parquet($previous_path) o
    WHERE o.run_id = $previous_run_id
      AND NOT EXISTS (SELECT 1 FROM run_delta d WHERE d.account = rd_key(o.endpoint_key))
) TO $path (FORMAT parquet);
