-- Report: the identities whose record the identity policies change
-- (policies/changes.sql: the plan's repository events), the first $limit in
-- repository order, with what was allocated, deallocated and reallocated and
-- the changes, and how many there are in all. Keys and values cut as the
-- report shows them (rd_shown).
SELECT rd_shown(identity_key) AS identity_key, allocated, deallocated, reallocated,
       list_transform(changes, lambda c: {'op': c.op, 'attribute': c.attribute,
           'values': list_transform(c."values", lambda v: rd_shown(v))}) AS changes,
       count(*) OVER () AS total
FROM policy_change
ORDER BY repo_row
LIMIT $limit;
