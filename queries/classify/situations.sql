-- The one situation of every endpoint record (precedence of docs/design.md:
-- excluded, duplicate_key, by link, by correlation, unmatched), then the
-- identities whose linked account is absent (missing; see also
-- classify/missing_expected.sql). sync: for linked and correlated pairs, equal
-- attribute hashes = in_sync; drift/differences.sql looks at the others attribute by
-- attribute. rank orders the situations as docs/design.md lists them.
CREATE OR REPLACE TEMP TABLE situation AS
WITH corr_candidates AS (
    SELECT c.ep_row, list_sort(list(r.id_key)) AS keys, list(r.id_row) AS rows
    FROM (SELECT ep_row, unnest(candidate_rows) AS id_row FROM ep_corr) c
    JOIN repo r USING (id_row)
    GROUP BY c.ep_row
),
accounts AS (
    SELECT
        e.ep_row,
        CASE
            WHEN e.pre_situation IS NOT NULL THEN e.pre_situation
            WHEN e.link_norm IS NOT NULL THEN
                CASE WHEN e.live_links = 1 THEN 'linked'
                     WHEN e.live_links > 1 THEN 'ambiguous'
                     ELSE 'deleted_in_repository' END
            WHEN c.unique_row IS NOT NULL THEN
                CASE WHEN c.deleted THEN 'deleted_in_repository'
                     WHEN c.collides THEN 'collision'
                     ELSE 'correlated' END
            WHEN c.candidate_rows IS NOT NULL THEN 'ambiguous'
            ELSE 'unmatched'
        END AS situation,
        CASE
            WHEN e.pre_situation IS NOT NULL THEN NULL
            WHEN e.link_norm IS NOT NULL THEN
                CASE WHEN e.live_links <= 1 THEN e.owner_row END
            ELSE c.unique_row
        END AS id_row,
        CASE
            WHEN e.pre_situation IS NOT NULL THEN NULL
            WHEN e.link_norm IS NOT NULL THEN
                CASE WHEN e.live_links <= 1 THEN e.owner_key END
            ELSE c.unique_key
        END AS identity_key,
        CASE
            WHEN e.pre_situation IS NOT NULL THEN e.pre_rule
            WHEN e.link_norm IS NOT NULL THEN 'link'
            WHEN c.rule_idx IS NOT NULL THEN list_extract($rule_names::VARCHAR[], c.rule_idx)
        END AS rule,
        CASE
            WHEN e.pre_situation IS NOT NULL THEN NULL
            WHEN e.link_norm IS NOT NULL THEN e.candidates
            WHEN c.unique_row IS NOT NULL AND NOT c.deleted AND c.collides THEN [c.unique_key]
            WHEN c.unique_row IS NULL THEN cc.keys
        END AS candidates,
        CASE WHEN e.pre_situation IS NULL AND e.link_norm IS NULL AND c.unique_row IS NULL
             THEN cc.rows END AS candidate_rows,
        CASE
            WHEN e.pre_situation IS NOT NULL THEN NULL
            WHEN e.link_norm IS NOT NULL THEN e.attr_hash IS NOT DISTINCT FROM e.owner_hash
            ELSE e.attr_hash IS NOT DISTINCT FROM c.unique_hash
        END AS hashes_equal
    FROM ep_linked e
    LEFT JOIN ep_corr c USING (ep_row)
    LEFT JOIN corr_candidates cc USING (ep_row)
    WHERE e.ep_row IS NOT NULL
)
SELECT
    rd_rank(a.situation) AS rank,
    a.situation,
    CASE WHEN a.situation IN ('linked', 'correlated') THEN
        CASE WHEN a.hashes_equal THEN 'in_sync' ELSE 'drifted' END
    END AS sync,
    a.ep_row,
    CAST(NULL AS VARCHAR) AS missing_key,
    a.id_row,
    a.identity_key,
    a.rule,
    a.candidates,
    a.candidate_rows
FROM accounts a
UNION ALL
-- linked identities whose account no endpoint record has (excluded and
-- duplicate records count as having it); never in an incremental run
SELECT rd_rank('missing'), 'missing', NULL, NULL, r.link_key, r.id_row, r.id_key, 'link', NULL, NULL
FROM repo r
SEMI JOIN (SELECT link_norm FROM ep_linked WHERE ep_row IS NULL) absent
    ON absent.link_norm = r.link_norm
WHERE NOT $incremental AND NOT r.deleted;
