-- Identity policies 0: no [[policy]]: the tables the plan and the report read
-- exist, empty.
CREATE OR REPLACE TEMP TABLE policy_why (
    identity_norm VARCHAR, attribute_norm VARCHAR, value VARCHAR, policy VARCHAR, "when" VARCHAR);
CREATE OR REPLACE TEMP TABLE policy_conflict (
    identity_key VARCHAR, identity_norm VARCHAR, attribute_norm VARCHAR, attribute VARCHAR,
    policies VARCHAR[], "values" VARCHAR[], pass INTEGER, __rd_row BIGINT);
CREATE OR REPLACE TEMP TABLE policy_change (
    repo_row BIGINT, identity_key VARCHAR,
    changes STRUCT(attribute VARCHAR, op VARCHAR, "values" VARCHAR[])[],
    preconditions STRUCT(attribute VARCHAR, "values" VARCHAR[])[],
    allocated VARCHAR[], deallocated VARCHAR[], reallocated VARCHAR[]);
