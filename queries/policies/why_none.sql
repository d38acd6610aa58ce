-- Identity policies 12a: policy_why exists, empty, until the planner fills it
-- for the drifted identities (policies/why.sql).
CREATE OR REPLACE TEMP TABLE policy_why (
    identity_norm VARCHAR, attribute_norm VARCHAR, value VARCHAR, policy VARCHAR, "when" VARCHAR);
