-- Correlation, step 4: decide. A rule matches an identity when both normalised
-- values are present and equal (value by value for multi-valued attributes:
-- any shared value). Per account, the first rule (config order) with exactly
-- one matching identity decides; if no rule has exactly one but one has
-- several, the first such rule makes it ambiguous.
--   deleted   -> deleted_in_repository
--   collides  -> collision: the identity's link names another account, or the
--                identity is the unique hit of another account too
--   else      -> correlated
CREATE OR REPLACE TEMP TABLE ep_corr AS
WITH hits AS (
    SELECT DISTINCT e.ep_row, e.rule_idx, r.id_row
    FROM corr_ep_values e
    JOIN corr_repo_values r ON r.rule_idx = e.rule_idx AND r.value = e.value
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
    r.id_key AS unique_key,
    r.attr_hash AS unique_hash,
    res.candidate_rows,
    coalesce(r.deleted, false) AS deleted,
    coalesce(
        (r.link_norm IS NOT NULL AND r.link_norm <> t.ep_key_norm)
        OR count(*) OVER (PARTITION BY res.unique_row) > 1,
        false) AS collides
FROM result res
JOIN corr_todo t USING (ep_row)
LEFT JOIN repo r ON r.id_row = res.unique_row;
