-- Reviewer assignments (docs/plan.md, Owners): an owner a reviewer chose with
-- `plan assign` (history.duckdb, table assignments; $assignments_path holds
-- this config's, the latest per account) counts as the repository's link
-- column until the repository says otherwise. The repository wins: an
-- assignment is ignored when its identity already has a link (to any account)
-- or some identity's link already names the account. It also needs the
-- account as it was assigned: an identity the repository no longer has in
-- scope gets nothing; an account no longer on the endpoint, or whose
-- entryUUID/objectGUID is not the one the plan saw (deleted and re-created
-- under the same name: another person), is not linked by it.
UPDATE repo
SET link_key = a.endpoint_key, link_norm = a.account_norm
FROM (
    WITH assigned AS (
        SELECT rd_key(identity_key) AS identity_norm, rd_key(endpoint_key) AS account_norm,
               endpoint_key, nullif(trim(endpoint_uuid), '') AS endpoint_uuid, assigned_at
        FROM read_parquet($assignments_path)
        -- the latest owner of each account
        QUALIFY row_number() OVER (PARTITION BY rd_key(endpoint_key)
                                   ORDER BY assigned_at DESC, identity_key) = 1
    ),
    accounts AS (
        SELECT s.ep_row, s.ep_key_norm
        FROM ep_state s
        SEMI JOIN assigned a ON a.account_norm = s.ep_key_norm
        WHERE s.pre_situation IS NULL
    ),
    uuids AS (
        SELECT CAST(file_row_number AS BIGINT) + 1 AS ep_row,
               nullif(trim(CAST({{uuid}} AS VARCHAR)), '') AS uuid
        FROM read_parquet($endpoint_path, file_row_number = true)
        -- on the bare file_row_number, so that the scan filters (drift/differences.sql)
        WHERE file_row_number IN (SELECT ep_row - 1 FROM accounts)
    ),
    usable AS (
        SELECT a.identity_norm, a.account_norm, a.endpoint_key, a.assigned_at
        FROM assigned a
        JOIN accounts e ON e.ep_key_norm = a.account_norm
        LEFT JOIN uuids u ON u.ep_row = e.ep_row
        WHERE a.endpoint_uuid IS NULL OR a.endpoint_uuid IS NOT DISTINCT FROM u.uuid
    )
    -- one account per identity (the latest assignment)
    SELECT * FROM usable
    QUALIFY row_number() OVER (PARTITION BY identity_norm ORDER BY assigned_at DESC, account_norm) = 1
) a
WHERE repo.id_key_norm = a.identity_norm
  AND repo.link_norm IS NULL
  AND a.account_norm NOT IN (SELECT link_norm FROM repo WHERE link_norm IS NOT NULL);
