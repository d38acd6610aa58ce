-- Identity policies 12 (run by the planner, recondiff/plan/build.py, once the
-- plan's rows are chosen): policy_why, per drifted identity, changed column and
-- value, the first policy (in config order) that expects it and its `when`:
-- what the plan's drift rows and the report say of a value a policy expects.
-- Only the identities a drift row names are read out of expected.parquet
-- (matched on the key as the snapshot spells it, before any folding).
CREATE OR REPLACE TEMP TABLE policy_why AS
WITH drifted AS (
    SELECT DISTINCT identity_key FROM plan_row
    WHERE sync = 'drifted' AND identity_key IS NOT NULL
)
SELECT identity_norm, attribute_norm, value, policy,
       (CAST($whens AS VARCHAR[]))[list_position(CAST($names AS VARCHAR[]), policy)] AS "when"
FROM (
    SELECT rd_key(e.identity_key) AS identity_norm, lower(e.attribute) AS attribute_norm, e.value,
           arg_min(e.policy, list_position($names::VARCHAR[], e.policy)) AS policy
    FROM read_parquet($expected_path) e
    SEMI JOIN drifted d ON d.identity_key = e.identity_key
    GROUP BY ALL
);
