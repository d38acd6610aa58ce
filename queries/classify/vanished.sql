-- deleted_in_repository from history (docs/design.md): an account unmatched now,
-- whose key the previous run of this config saw owned by an identity that has
-- since vanished from the repository snapshot altogether (not merely left its
-- scope). $owners_path holds the previous run's ownerships (history.py,
-- history/record_owners.sql), raw keys folded here.
UPDATE situation s
SET situation = 'deleted_in_repository', rank = rd_rank('deleted_in_repository'), identity_key = v.identity_key,
    rule = 'vanished'
FROM (
    SELECT e.ep_row, min(o.identity_key) AS identity_key
    FROM ep e
    JOIN (
        SELECT identity_key, rd_key(identity_key) AS identity_norm,
               rd_key(endpoint_key) AS account_norm
        FROM read_parquet($owners_path)
        WHERE run_id = $owners_run_id
    ) o ON o.account_norm = e.ep_key_norm
    WHERE e.ep_row IS NOT NULL
      AND o.identity_norm NOT IN (
          SELECT rd_key({{key}}) FROM read_parquet($repository_path)
          WHERE rd_key({{key}}) IS NOT NULL
      )
    GROUP BY e.ep_row
) v
WHERE s.ep_row = v.ep_row AND s.situation = 'unmatched';
