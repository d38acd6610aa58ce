-- Identity policies 11: policy_change, one row per identity whose record the
-- policies change: the changes the identity system must make (the plan's
-- repository event of that identity, and so the repository feed) with the
-- values they expect to find, and the policies allocated, deallocated and
-- reallocated. Each changed column: `replace` for a single value and the
-- applied list, `delete` then `add` for the values of a list.
CREATE OR REPLACE TEMP TABLE policy_change AS
WITH k AS (
    SELECT $columns::VARCHAR[] AS __rd_columns, $applied_name::VARCHAR AS __rd_applied_name
)
SELECT __rd_row                                      AS repo_row,
       {{key}}                                       AS identity_key,
       flatten([{{changes}}])                        AS changes,
       flatten([{{preconditions}}])                  AS preconditions,
       rd_dedupe(__rd_allocated)                     AS allocated,
       rd_dedupe(__rd_deallocated)                   AS deallocated,
       rd_dedupe(__rd_reallocated)                   AS reallocated
FROM pol_state, k
WHERE {{differs}};
