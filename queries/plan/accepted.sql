-- Action plan, step 4d: the findings of this run that an active exception of
-- this config accepts or rejects (plan_exception: history/load_exceptions.sql,
-- already filtered by config and the run's clock), for the plan header's
-- "accepted" list. plan/suppress.sql then drops them from what the events are
-- built of.
CREATE OR REPLACE TEMP TABLE plan_accepted AS
SELECT d.pos AS drift_pos, NULL::BIGINT AS ord, f.finding_key,
       x.exception_id, x.decision, x.decided_by, x.reason, x.decided_at, x.until,
       r.endpoint_key, r.identity_key, r.situation, d.attribute, d.kind,
       d.endpoint_value, d.repository_value, r.ord AS place
FROM plan_drift_finding f
JOIN plan_exception x USING (finding_key)
JOIN plan_drift_row d USING (pos)
JOIN plan_row r ON r.endpoint_record = d.ep_row
UNION ALL
SELECT NULL, r.ord, f.finding_key,
       x.exception_id, x.decision, x.decided_by, x.reason, x.decided_at, x.until,
       r.endpoint_key, r.identity_key, r.situation, NULL, NULL, NULL, NULL, r.ord
FROM plan_row_finding f
JOIN plan_exception x USING (finding_key)
JOIN plan_row r USING (ord);
