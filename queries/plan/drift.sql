-- Action plan, step 1b: every drift row with the response that decides it
-- (docs/plan.md): the rule that matched it (plan_drift_hit, step 1a), else
-- its attribute's on_drift. pos numbers the rows in the order their events
-- are written (by account, attribute, kind, value).
CREATE OR REPLACE TEMP TABLE plan_drift_row AS
WITH policy AS (
    SELECT generate_subscripts($on_drift::VARCHAR[], 1) AS attr_idx,
           unnest($on_drift::VARCHAR[])                  AS on_drift
)
SELECT
    row_number() OVER (ORDER BY d.ep_row, d.attr_idx, d.kind, d.endpoint_value,
                                d.repository_value) AS pos,
    d.ep_row, d.attr_idx, d.attribute, d.repository_attribute, d.compare, d.kind,
    d.endpoint_value, d.repository_value, d.endpoint_values, d.repository_values,
    coalesce(h.hit.response, p.on_drift) AS response,
    h.hit.alert                          AS alert
FROM drift d
JOIN policy p USING (attr_idx)
LEFT JOIN plan_drift_hit h ON h.drift_id = d.rowid;
