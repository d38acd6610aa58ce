-- By correlation: active accounts that no in-scope identity links.
-- A rule matches an identity when both normalised values are present and equal
-- (multi-valued: when the sets share a value). Per account, the first rule
-- (in config order) with exactly one matching identity decides; if no rule has
-- exactly one but one has several, the first such rule makes it ambiguous.
-- Columns: unique_row (the identity, when decided by a unique hit), rule_idx,
-- candidates (ambiguous), and whether the hit is deleted or collides:
--   deleted   -> deleted_in_repository
--   collides  -> collision: the identity's link names another account, or the
--                identity is the unique hit of another account too
--   else      -> correlated
CREATE OR REPLACE TEMP TABLE ep_corr AS
WITH todo AS (
    SELECT e.ep_row, e.ep_key_norm, e.corr
    FROM ep e
    JOIN ep_state s USING (ep_row)
    ANTI JOIN ep_link l USING (ep_row)
    WHERE s.pre_situation IS NULL
),
ep_values AS (
    SELECT DISTINCT ep_row, rule_idx, unnest(vals) AS value
    FROM (SELECT ep_row, generate_subscripts(corr, 1) AS rule_idx, unnest(corr) AS vals FROM todo)
),
repo_values AS (
    SELECT DISTINCT id_row, rule_idx, unnest(vals) AS value
    FROM (SELECT id_row, generate_subscripts(corr, 1) AS rule_idx, unnest(corr) AS vals FROM repo)
),
hits AS (
    SELECT DISTINCT e.ep_row, e.rule_idx, r.id_row
    FROM ep_values e
    JOIN repo_values r ON r.rule_idx = e.rule_idx AND r.value = e.value
    WHERE e.value IS NOT NULL
),
per_rule AS (
    SELECT ep_row, rule_idx, count(*) AS n, min(id_row) AS id_row, list(id_row) AS id_rows
    FROM hits
    GROUP BY ep_row, rule_idx
),
decided AS (
    SELECT
        ep_row,
        min(rule_idx) FILTER (WHERE n = 1) AS unique_rule,
        min(rule_idx) FILTER (WHERE n > 1) AS ambiguous_rule
    FROM per_rule
    GROUP BY ep_row
),
result AS (
    SELECT
        d.ep_row,
        coalesce(d.unique_rule, d.ambiguous_rule) AS rule_idx,
        u.id_row AS unique_row,
        CASE WHEN d.unique_rule IS NULL THEN a.id_rows END AS candidate_rows
    FROM decided d
    LEFT JOIN per_rule u ON u.ep_row = d.ep_row AND u.rule_idx = d.unique_rule
    LEFT JOIN per_rule a ON a.ep_row = d.ep_row AND a.rule_idx = d.ambiguous_rule
)
SELECT
    res.ep_row,
    res.rule_idx,
    res.unique_row,
    res.candidate_rows,
    coalesce(r.deleted, false) AS deleted,
    coalesce(
        (r.link_norm IS NOT NULL AND r.link_norm <> t.ep_key_norm)
        OR count(*) OVER (PARTITION BY res.unique_row) > 1,
        false) AS collides
FROM result res
JOIN todo t USING (ep_row)
LEFT JOIN repo r ON r.id_row = res.unique_row;
