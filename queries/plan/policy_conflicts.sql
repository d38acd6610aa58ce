-- Action plan: the identity policies' conflicts for the plan's header
-- (policies/conflicts.sql: two or more policies setting one single-valued column
-- to different values for one identity; no event is proposed for it), so that
-- `plan show` tells the reviewer: the first $limit in repository order, and how
-- many there are in all. Keys and values cut and NUL-free as the report shows
-- them (rd_shown); policy_conflicts.csv has them whole.
SELECT rd_shown(identity_key) AS identity_key, rd_shown(attribute) AS attribute,
       policies, list_transform("values", lambda v: rd_shown(v)) AS "values",
       count(*) OVER () AS total
FROM policy_conflict
ORDER BY __rd_row, attribute
LIMIT $limit;
