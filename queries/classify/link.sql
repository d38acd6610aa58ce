-- By link: per account key, the in-scope identities whose link names it.
--   live_links = 1   -> linked (owner: that identity)
--   live_links > 1   -> ambiguous (candidates: the live identities)
--   live_links = 0   -> deleted_in_repository (only deleted identities link it)
-- Grouped once over the repository, so the account side needs one join.
CREATE OR REPLACE TEMP TABLE link_owner AS
WITH owners AS (
    -- the owner: the first live identity (by repository record), else the
    -- first deleted one. The integer order (a deleted identity's record number
    -- plus 2^50) sorts like (deleted, id_row); arg_min over the integer is
    -- cheaper than over that struct (benchmarks/NOTES.md).
    SELECT
        link_norm,
        count(*) FILTER (WHERE NOT deleted)                      AS live_links,
        count(*) FILTER (WHERE deleted)                          AS deleted_links,
        arg_min(id_row, owner_order)                             AS owner_row,
        arg_min(id_key, owner_order)                             AS owner_key,
        arg_min(attr_hash, owner_order)                          AS owner_hash
    FROM (
        SELECT *, id_row + CASE WHEN deleted THEN CAST(1 AS BIGINT) << 50 ELSE 0 END AS owner_order
        FROM repo
        WHERE link_norm IS NOT NULL
    )
    GROUP BY link_norm
),
shared AS (
    -- the rare account named by several identities: who they are
    SELECT
        link_norm,
        list_sort(list(id_key) FILTER (WHERE NOT deleted)) AS live_keys,
        list_sort(list(id_key) FILTER (WHERE deleted))     AS deleted_keys
    FROM repo
    WHERE link_norm IN (SELECT link_norm FROM owners WHERE live_links + deleted_links > 1)
    GROUP BY link_norm
)
SELECT
    o.*,
    CASE
        WHEN o.live_links > 1 THEN s.live_keys
        WHEN o.live_links = 0 AND o.deleted_links > 1 THEN s.deleted_keys
    END AS candidates
FROM owners o
LEFT JOIN shared s USING (link_norm);
