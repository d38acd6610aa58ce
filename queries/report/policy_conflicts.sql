-- Report: the identity policies' conflicts (policies/conflicts.sql: two or
-- more policies setting one single-valued column to different values for one
-- identity, no value chosen), the first $limit in repository order, and how
-- many there are in all. Keys and values cut as the report shows them (rd_shown).
SELECT rd_shown(identity_key) AS identity_key, rd_shown(attribute) AS attribute, policies,
       list_transform("values", lambda v: rd_shown(v)) AS "values", pass,
       count(*) OVER () AS total
FROM policy_conflict
ORDER BY __rd_row, attribute
LIMIT $limit;
