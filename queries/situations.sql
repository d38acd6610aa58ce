-- The one situation of every endpoint record (precedence of DESIGN.md:
-- excluded, duplicate_key, by link, by correlation, unmatched), then the
-- identities whose expected account is absent (missing).
-- sync: for linked and correlated pairs, equal attribute hashes = in_sync.
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
        e.ep_key,
        e.ep_dn,
        e.attr_hash,
        CASE
            WHEN s.pre_situation IS NOT NULL THEN s.pre_situation
            WHEN l.ep_row IS NOT NULL THEN
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
            WHEN s.pre_situation IS NOT NULL THEN NULL
            WHEN l.ep_row IS NOT NULL THEN
                CASE WHEN l.live_links = 1 THEN l.live_row
                     WHEN l.live_links = 0 THEN l.deleted_row END
            ELSE c.unique_row
        END AS id_row,
        CASE
            WHEN s.pre_situation IS NOT NULL THEN s.pre_rule
            WHEN l.ep_row IS NOT NULL THEN 'link'
            WHEN c.rule_idx IS NOT NULL THEN list_extract($rule_names::VARCHAR[], c.rule_idx)
        END AS rule,
        CASE
            WHEN s.pre_situation IS NOT NULL THEN NULL
            WHEN l.live_links > 1 THEN l.live_candidates
            WHEN l.ep_row IS NOT NULL AND l.live_links = 0 AND len(l.deleted_candidates) > 1
                THEN l.deleted_candidates
            WHEN l.ep_row IS NOT NULL THEN NULL
            WHEN c.unique_row IS NULL THEN cc.keys
        END AS candidates,
        CASE WHEN s.pre_situation IS NULL AND l.ep_row IS NULL AND c.unique_row IS NULL
             THEN cc.rows END AS candidate_rows
    FROM ep e
    JOIN ep_state s USING (ep_row)
    LEFT JOIN ep_link l USING (ep_row)
    LEFT JOIN ep_corr c USING (ep_row)
    LEFT JOIN corr_candidates cc USING (ep_row)
),
referenced AS (
    SELECT id_row FROM accounts WHERE id_row IS NOT NULL
    UNION
    SELECT unnest(candidate_rows) FROM accounts WHERE candidate_rows IS NOT NULL
)
SELECT
    a.situation,
    CASE WHEN a.situation IN ('linked', 'correlated') THEN
        CASE WHEN a.attr_hash IS NOT DISTINCT FROM r.attr_hash THEN 'in_sync' ELSE 'drifted' END
    END AS sync,
    a.ep_row,
    a.ep_key,
    a.ep_dn,
    a.id_row,
    r.id_key AS identity_key,
    a.rule,
    CASE WHEN a.situation = 'collision' THEN [r.id_key] ELSE a.candidates END AS candidates
FROM accounts a
LEFT JOIN repo r USING (id_row)
UNION ALL
SELECT
    'missing', NULL, NULL, CASE WHEN r.link_norm IS NOT NULL THEN r.link_key END, NULL,
    r.id_row, r.id_key,
    CASE WHEN r.link_norm IS NULL THEN 'expect_account' ELSE 'link' END, NULL
FROM repo r
WHERE NOT $incremental
  AND NOT r.deleted
  AND CASE
        WHEN r.link_norm IS NOT NULL THEN
            r.link_norm NOT IN (SELECT ep_key_norm FROM ep WHERE ep_key_norm IS NOT NULL)
        ELSE $expect_account AND r.id_row NOT IN (SELECT id_row FROM referenced)
      END;
