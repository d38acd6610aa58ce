-- Action plan: the header's "accepted" list (plan/accepted.sql), in plan order.
SELECT exception_id AS id, finding_key AS finding, decision, decided_by AS "by", reason,
       decided_at AS "at", until, coalesce(endpoint_key, identity_key) AS account,
       identity_key, situation, attribute, kind, endpoint_value, repository_value
FROM plan_accepted
ORDER BY place, drift_pos NULLS FIRST;
