-- The one situation of every endpoint record by precedence (docs/design.md:
-- excluded, duplicate_key, by link, by correlation, unmatched), then the
-- identities whose linked account is absent (missing; see also
-- classify/missing_expected.sql). An active account no identity links is
-- `unmatched` here; classify/correlated.sql then gives the few that a
-- correlation rule matches their situation. sync: for linked and correlated
-- pairs, equal attribute hashes = in_sync; drift/differences.sql looks at the
-- others attribute by attribute. rank orders the situations as docs/design.md
-- lists them.
-- One full outer join of the accounts (ep_state) with the linked keys: a key
-- one identity names is that identity's row of `repo` (nearly all), a key
-- several name is link_shared's row. Its rows with no account are the missing
-- identities of single links; those of shared links are added after it.
CREATE OR REPLACE TEMP TABLE situation AS
WITH links AS (
    SELECT r.link_norm,
           CASE WHEN r.deleted THEN 0 ELSE 1 END AS live_links,
           r.id_row AS owner_row, r.id_key AS owner_key, r.attr_hash AS owner_hash,
           CAST(NULL AS VARCHAR[]) AS candidates,
           r.link_key, r.deleted, true AS single
    FROM repo r
    ANTI JOIN link_shared s ON s.link_norm = r.link_norm
    WHERE r.link_norm IS NOT NULL
    UNION ALL
    SELECT link_norm, live_links, owner_row, owner_key, owner_hash, candidates,
           NULL, NULL, false
    FROM link_shared
),
accounts AS (
    SELECT
        e.ep_row,
        CASE
            WHEN e.ep_row IS NULL THEN 'missing'
            WHEN e.pre_situation IS NOT NULL THEN e.pre_situation
            WHEN l.link_norm IS NOT NULL THEN
                CASE WHEN l.live_links = 1 THEN 'linked'
                     WHEN l.live_links > 1 THEN 'ambiguous'
                     ELSE 'deleted_in_repository' END
            ELSE 'unmatched'
        END AS situation,
        CASE WHEN e.ep_row IS NULL THEN l.link_key END AS missing_key,
        CASE
            WHEN e.ep_row IS NULL THEN l.owner_row
            WHEN e.pre_situation IS NOT NULL THEN NULL
            WHEN l.live_links <= 1 THEN l.owner_row
        END AS id_row,
        CASE
            WHEN e.ep_row IS NULL THEN l.owner_key
            WHEN e.pre_situation IS NOT NULL THEN NULL
            WHEN l.live_links <= 1 THEN l.owner_key
        END AS identity_key,
        CASE
            WHEN e.pre_situation IS NOT NULL THEN e.pre_rule
            WHEN l.link_norm IS NOT NULL THEN 'link'
        END AS rule,
        CASE WHEN e.pre_situation IS NULL THEN l.candidates END AS candidates,
        e.attr_hash IS NOT DISTINCT FROM l.owner_hash AS hashes_equal
    FROM (SELECT * FROM ep_state WHERE pre_situation IS DISTINCT FROM 'blank_key') e
    FULL OUTER JOIN links l ON l.link_norm = e.ep_key_norm
    -- linked identities whose account no endpoint record has (excluded and
    -- duplicate records count as having it); never in an incremental run
    WHERE e.ep_row IS NOT NULL OR (l.single AND NOT l.deleted AND NOT $incremental)
)
SELECT
    rd_rank(a.situation) AS rank,
    a.situation,
    CASE WHEN a.situation = 'linked' THEN
        CASE WHEN a.hashes_equal THEN 'in_sync' ELSE 'drifted' END
    END AS sync,
    a.ep_row,
    a.missing_key,
    a.id_row,
    a.identity_key,
    a.rule,
    a.candidates,
    CAST(NULL AS BIGINT[]) AS candidate_rows
FROM accounts a
UNION ALL
-- the live identities of a shared link whose account no endpoint record has
SELECT rd_rank('missing'), 'missing', NULL, NULL, r.link_key, r.id_row, r.id_key, 'link', NULL, NULL
FROM repo r
SEMI JOIN (
    SELECT link_norm FROM link_shared
    ANTI JOIN (SELECT ep_key_norm FROM ep WHERE ep_key_norm IS NOT NULL) e
        ON e.ep_key_norm = link_shared.link_norm
) absent ON absent.link_norm = r.link_norm
WHERE NOT $incremental AND NOT r.deleted;
