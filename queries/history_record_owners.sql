-- The identity -> account pairs of this run (linked, correlated, and those
-- whose identity is deleted), for the vanished-identity rule of the next run
-- (history_prune_owners.sql dropped the earlier runs' pairs first).
INSERT INTO owners
SELECT $run_id, identity_key, rd_key(identity_key), rd_key(endpoint_key)
FROM read_parquet($situations_parquet)
WHERE situation IN ('linked', 'correlated', 'deleted_in_repository')
  AND rd_key(identity_key) IS NOT NULL AND rd_key(endpoint_key) IS NOT NULL;
