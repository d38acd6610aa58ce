-- Report: the drift rows whose repository value an identity policy expects
-- (policies/why.sql: per identity, repository column and value, the first
-- policy in config order and its `when`), the first $limit in drift order and
-- how many there are in all. Matched as the plan's drift items are
-- (plan/events.sql): the folded identity key, the repository column (none
-- for an expression side) and the value as the repository spells it.
-- Keys, values and `when` cut as the report shows them (rd_shown).
WITH why AS (
    SELECT d.ep_row, d.attr_idx, d.kind, d.ep_key, d.identity_key, d.attribute,
           d.repository_attribute, d.endpoint_value, d.repository_value, pw.policy, pw."when"
    FROM drift d
    JOIN policy_why pw
      ON pw.identity_norm = rd_key(d.identity_key)
     AND pw.attribute_norm = lower(list_extract($repository_columns::VARCHAR[], d.attr_idx))
     AND pw.value = d.repository_value
)
SELECT ep_row, rd_shown(ep_key) AS endpoint_key, rd_shown(identity_key) AS identity_key,
       attribute, repository_attribute, kind,
       rd_shown(endpoint_value) AS endpoint_value, rd_shown(repository_value) AS repository_value,
       policy, rd_shown("when") AS "when", count(*) OVER () AS total
FROM why
ORDER BY ep_row, attr_idx, kind, why.repository_value
LIMIT $limit;
