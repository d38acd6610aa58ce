-- Identity policies 7: expected.parquet, why each value is expected: one row
-- per value of the final state that a policy sets or grants, for each policy
-- in the identity's new applied list that applies to the final state. The
-- value as the derived snapshot holds it (as text), so the plan and the report
-- find it beside the drift row it explains.
COPY (
    WITH k AS (
        SELECT $names::VARCHAR[]          AS __rd_names,
               $lower_names::VARCHAR[]    AS __rd_lower_names,
               $whens::VARCHAR[]          AS __rd_whens,
               $set_values::VARCHAR[]     AS __rd_set_values,
               $grant_values::VARCHAR[][] AS __rd_grant_values,
               $grant_norms::VARCHAR[][]  AS __rd_grant_norms,
               $columns::VARCHAR[]        AS __rd_columns
    ),
    rows AS (
        -- __rd_ok<i>: the policy is in the new applied list and applies now
        SELECT s.*, k.*, {{ok}}
        FROM pol_state s, k
    )
    SELECT identity_key, e.attribute, e.value, e.policy, e."when"
    FROM (SELECT __rd_row, {{key}} AS identity_key, unnest(flatten([{{effects}}])) AS e
          FROM rows)
    ORDER BY __rd_row, e.attribute, e.value, e.policy
) TO $expected_path (FORMAT parquet);
