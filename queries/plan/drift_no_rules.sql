-- Action plan, step 1a without any [[attribute.rule]]: no drift row is
-- decided by a rule (plan/drift_rules.sql, empty).
CREATE OR REPLACE TEMP TABLE plan_drift_hit (
    drift_id BIGINT,
    hit      STRUCT(response VARCHAR, alert VARCHAR)
);
