-- By link: the account keys that several in-scope identities name (few; a key
-- one identity names is that identity's own row of `repo`, classify/situations.sql).
--   live_links = 1   -> linked (owner: that identity)
--   live_links > 1   -> ambiguous (candidates: the live identities)
--   live_links = 0   -> deleted_in_repository (only deleted identities link it)
-- A count per key first, the owners of the shared keys only then: arg_min over
-- every key cost more than the rest of the phase (benchmarks/NOTES.md).
CREATE OR REPLACE TEMP TABLE link_shared AS
WITH shared AS (
    SELECT link_norm
    FROM repo
    WHERE link_norm IS NOT NULL
    GROUP BY link_norm
    HAVING count(*) > 1
),
owners AS (
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
        arg_min(attr_hash, owner_order)                          AS owner_hash,
        list_sort(list(id_key) FILTER (WHERE NOT deleted))       AS live_keys,
        list_sort(list(id_key) FILTER (WHERE deleted))           AS deleted_keys
    FROM (
        SELECT *, id_row + CASE WHEN deleted THEN CAST(1 AS BIGINT) << 50 ELSE 0 END AS owner_order
        FROM repo
        SEMI JOIN shared USING (link_norm)
    )
    GROUP BY link_norm
)
SELECT
    link_norm, live_links, deleted_links, owner_row, owner_key, owner_hash,
    CASE
        WHEN live_links > 1 THEN live_keys
        WHEN live_links = 0 AND deleted_links > 1 THEN deleted_keys
    END AS candidates
FROM owners;
