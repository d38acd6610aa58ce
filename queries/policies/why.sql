-- Identity policies 12: policy_why, per identity, changed column and value,
-- the first policy (in config order) that expects it and its `when`: what the
-- plan's drift rows and the report say of a value a policy expects.
CREATE OR REPLACE TEMP TABLE policy_why AS
SELECT rd_key(identity_key) AS identity_norm, lower(attribute) AS attribute_norm, value,
       arg_min(policy, policy_pos) AS policy, arg_min("when", policy_pos) AS "when"
FROM (SELECT *, list_position($names::VARCHAR[], policy) AS policy_pos
      FROM read_parquet($expected_path))
GROUP BY ALL;
