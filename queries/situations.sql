-- The one situation of every endpoint record (precedence of DESIGN.md:
-- excluded, duplicate_key, by link, by correlation, unmatched), then the
-- identities whose expected account is absent (missing).
-- sync: for linked and correlated pairs, equal attribute hashes = in_sync;
-- drift.sql looks at the others attribute by attribute.
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
            WHEN l.link_norm IS NOT NULL THEN
                CASE WHEN l.live_links = 1 THEN 'linked'
                     WHEN l.live_links > 1 THEN 'ambiguous'
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
            WHEN l.link_norm IS NOT NULL THEN
                CASE WHEN l.live_links <= 1 THEN l.owner_row END
            ELSE c.unique_row
        END AS id_row,
        CASE
            WHEN e.pre_situation IS NOT NULL THEN NULL
            WHEN l.link_norm IS NOT NULL THEN
                CASE WHEN l.live_links <= 1 THEN l.owner_key END
            ELSE c.unique_key
        END AS identity_key,
        CASE
            WHEN e.pre_situation IS NOT NULL THEN e.pre_rule
            WHEN l.link_norm IS NOT NULL THEN 'link'
            WHEN c.rule_idx IS NOT NULL THEN list_extract($rule_names::VARCHAR[], c.rule_idx)
        END AS rule,
        CASE
            WHEN e.pre_situation IS NOT NULL THEN NULL
            WHEN l.link_norm IS NOT NULL THEN l.candidates
            WHEN c.unique_row IS NOT NULL AND NOT c.deleted AND c.collides THEN [c.unique_key]
            WHEN c.unique_row IS NULL THEN cc.keys
        END AS candidates,
        CASE WHEN e.pre_situation IS NULL AND l.link_norm IS NULL AND c.unique_row IS NULL
             THEN cc.rows END AS candidate_rows,
        CASE
            WHEN e.pre_situation IS NOT NULL THEN NULL
            WHEN l.link_norm IS NOT NULL THEN e.attr_hash IS NOT DISTINCT FROM l.owner_hash
            ELSE e.attr_hash IS NOT DISTINCT FROM c.unique_hash
        END AS hashes_equal
    FROM ep_state e
    LEFT JOIN link_owner l ON l.link_norm = e.ep_key_norm AND e.pre_situation IS NULL
    LEFT JOIN ep_corr c USING (ep_row)
    LEFT JOIN corr_candidates cc USING (ep_row)
    WHERE e.pre_situation IS DISTINCT FROM 'blank_key'
),
referenced AS (
    SELECT id_row FROM accounts WHERE id_row IS NOT NULL
    UNION
    SELECT unnest(candidate_rows) FROM accounts WHERE candidate_rows IS NOT NULL
)
SELECT
    a.situation,
    CASE WHEN a.situation IN ('linked', 'correlated') THEN
        CASE WHEN a.hashes_equal THEN 'in_sync' ELSE 'drifted' END
    END AS sync,
    a.ep_row,
    CAST(NULL AS VARCHAR) AS missing_key,
    a.id_row,
    a.identity_key,
    a.rule,
    a.candidates
FROM accounts a
UNION ALL
SELECT
    'missing', NULL, NULL, CASE WHEN r.link_norm IS NOT NULL THEN r.link_key END,
    r.id_row, r.id_key,
    CASE WHEN r.link_norm IS NULL THEN 'expect_account' ELSE 'link' END, NULL
FROM repo r
WHERE NOT $incremental
  AND NOT r.deleted
  AND CASE
        WHEN r.link_norm IS NOT NULL THEN
            r.link_norm NOT IN (SELECT ep_key_norm FROM ep_state WHERE ep_key_norm IS NOT NULL)
        ELSE $expect_account AND r.id_row NOT IN (SELECT id_row FROM referenced)
      END;
