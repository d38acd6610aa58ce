-- Identity policies 9: the conflicts, once each (the first pass that found
-- them): two or more policies set one single-valued column to different
-- values for one identity. No value is chosen and no event proposed.
CREATE OR REPLACE TEMP TABLE policy_conflict AS
SELECT any_value(identity_key) AS identity_key, rd_key(any_value(identity_key)) AS identity_norm,
       lower(c.attribute) AS attribute_norm, c.attribute, c.policies, c."values",
       min(c.pass) AS pass, min(__rd_row) AS __rd_row
FROM (SELECT __rd_row, {{key}} AS identity_key, unnest(__rd_conflicts) AS c FROM pol_state)
WHERE c.pass <= $max_recursion
GROUP BY __rd_row, c.attribute, c.policies, c."values";
