-- Owner candidates (docs/plan.md, Owners): for every account left `ambiguous`
-- or in `collision`, the identities that could own it, as the plan's owner
-- decision lists them. They are correlation's own matches (the rule hits
-- correlate.sql decided from, re-joined here for just these few accounts: a
-- hash join on the values already materialised, no new scan), each with the
-- names of every rule that matched it; for an account ambiguous by link, the
-- live identities whose link names it (rule "link"). Kept (not released) for
-- the plan: plan/owners.sql scores them.
CREATE OR REPLACE TEMP TABLE owner_hit AS
WITH wanted AS (
    SELECT ep_row FROM situation
    WHERE situation IN ('ambiguous', 'collision') AND ep_row IS NOT NULL
),
by_rule AS (
    SELECT DISTINCT e.ep_row, v.id_row, e.rule_idx
    FROM corr_ep_values e
    JOIN corr_repo_values v ON v.rule_idx = e.rule_idx AND v.value = e.value
    SEMI JOIN wanted w ON w.ep_row = e.ep_row
),
by_link AS (
    -- an account some identity links was decided by link: wanted, it is
    -- ambiguous by link (live_links > 1)
    SELECT e.ep_row, r.id_row, 0 AS rule_idx
    FROM ep e
    JOIN repo r ON r.link_norm = e.ep_key_norm
    SEMI JOIN wanted w ON w.ep_row = e.ep_row
    WHERE NOT r.deleted
),
hits AS (
    SELECT * FROM by_rule UNION ALL SELECT * FROM by_link
)
SELECT h.ep_row, h.id_row, any_value(r.id_key) AS identity_key,
       -- the rules that matched, in config order
       list_transform(list_sort(list(h.rule_idx)),
                      lambda i: CASE WHEN i = 0 THEN 'link'
                                     ELSE list_extract($rule_names::VARCHAR[], i) END) AS rules
FROM hits h
JOIN repo r USING (id_row)
WHERE NOT r.deleted
GROUP BY h.ep_row, h.id_row;
