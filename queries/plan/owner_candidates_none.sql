-- Action plan, step 4b (1/2), when no account has an owner candidate
-- (classify/owner_hits.sql found none): the empty table of plan/owner_candidates.sql.
CREATE OR REPLACE TEMP TABLE plan_owner_candidates AS
SELECT CAST(NULL AS BIGINT) AS ep_row,
       CAST([] AS STRUCT(agreeing BIGINT, identity_key VARCHAR, rules VARCHAR[], score BIGINT)[])
           AS candidates
WHERE false;
