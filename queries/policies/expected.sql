-- Identity policies 7: expected.parquet, why each value is expected: one row
-- per value of the final state that a policy sets or grants, for each policy
-- in the identity's new applied list that applies to the final state (the
-- policy's `when` is the config's: policies/why.sql writes it beside a drift
-- row; 17M rows at 1M identities would carry it 17M times). The
-- value as the derived snapshot holds it (as text), so the plan and the report
-- find it beside the drift row it explains.
COPY (
    WITH k AS (
        SELECT $names::VARCHAR[]          AS __rd_names,
               $lower_names::VARCHAR[]    AS __rd_lower_names,
               $set_values::VARCHAR[]     AS __rd_set_values,
               $grant_values::VARCHAR[][] AS __rd_grant_values,
               $grant_norms::VARCHAR[][]  AS __rd_grant_norms,
               $columns::VARCHAR[]        AS __rd_columns
    ),
    rows AS (
        -- __rd_ok<i>: the policy is in the new applied list and applies now
        SELECT s.*, k.*, {{ok}}
        FROM (SELECT * FROM pol_state WHERE __rd_scope ORDER BY __rd_row) s, k
    )
    -- in repository order: the identities sorted (not the rows of their values)
    SELECT identity_key, e.attribute, e.value, e.policy
    FROM (SELECT {{key}} AS identity_key, unnest(flatten([{{effects}}])) AS e FROM rows)
) TO $expected_path (FORMAT parquet);
