-- The one situation of every endpoint record by precedence (docs/design.md:
-- excluded, duplicate_key, by link, by correlation, unmatched), then the
-- identities whose linked account is absent (missing; see also
-- classify/missing_expected.sql). An active account no identity links is
-- `unmatched` here; classify/correlated.sql then gives the few that a
-- correlation rule matches their situation. sync: for linked and correlated
-- pairs, equal attribute hashes = in_sync; drift/differences.sql looks at the
-- others attribute by attribute. rank orders the situations as docs/design.md
-- lists them.
-- One full outer join of the accounts (ep_state) with the keys one identity
-- links (that identity's own row of `repo`: nearly all), and a left join with
-- the few keys several link (link_shared): the big join's hash table carries
-- no list column (at 10M, 8.1 -> 7.1 s CPU, benchmarks/NOTES.md). The full
-- join's rows with no account are the missing identities of single links;
-- those of shared links are added after it.
CREATE OR REPLACE TEMP TABLE situation AS
WITH singles AS (
    SELECT r.link_norm, r.id_row, r.id_key, r.attr_hash, r.deleted, r.link_key
    FROM repo r
    ANTI JOIN link_shared s ON s.link_norm = r.link_norm
    WHERE r.link_norm IS NOT NULL
),
joined AS (
    SELECT
        e.ep_row, e.attr_hash, e.pre_situation, e.pre_rule,
        l.link_norm IS NOT NULL OR s.link_norm IS NOT NULL AS linked,
        CASE WHEN s.link_norm IS NOT NULL THEN s.live_links
             WHEN l.deleted THEN 0 ELSE 1 END AS live_links,
        CASE WHEN s.link_norm IS NOT NULL THEN s.owner_row ELSE l.id_row END AS owner_row,
        CASE WHEN s.link_norm IS NOT NULL THEN s.owner_key ELSE l.id_key END AS owner_key,
        CASE WHEN s.link_norm IS NOT NULL THEN s.owner_hash ELSE l.attr_hash END AS owner_hash,
        s.candidates,
        l.link_key
    FROM (SELECT * FROM ep_state WHERE pre_situation IS DISTINCT FROM 'blank_key') e
    FULL OUTER JOIN singles l ON l.link_norm = e.ep_key_norm
    LEFT JOIN link_shared s ON s.link_norm = e.ep_key_norm
    -- linked identities whose account no endpoint record has (excluded and
    -- duplicate records count as having it); never in an incremental run
    WHERE e.ep_row IS NOT NULL OR (NOT l.deleted AND NOT $incremental)
),
accounts AS (
    SELECT
        ep_row,
        CASE
            WHEN ep_row IS NULL THEN 'missing'
            WHEN pre_situation IS NOT NULL THEN pre_situation
            WHEN linked THEN
                CASE WHEN live_links = 1 THEN 'linked'
                     WHEN live_links > 1 THEN 'ambiguous'
                     ELSE 'deleted_in_repository' END
            ELSE 'unmatched'
        END AS situation,
        CASE WHEN ep_row IS NULL THEN link_key END AS missing_key,
        CASE
            WHEN pre_situation IS NOT NULL OR NOT linked THEN NULL
            WHEN ep_row IS NULL OR live_links <= 1 THEN owner_row
        END AS id_row,
        CASE
            WHEN pre_situation IS NOT NULL OR NOT linked THEN NULL
            WHEN ep_row IS NULL OR live_links <= 1 THEN owner_key
        END AS identity_key,
        CASE
            WHEN pre_situation IS NOT NULL THEN pre_rule
            WHEN linked THEN 'link'
        END AS rule,
        CASE WHEN pre_situation IS NULL THEN candidates END AS candidates,
        attr_hash IS NOT DISTINCT FROM owner_hash AS hashes_equal
    FROM joined
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
