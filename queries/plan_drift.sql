-- Action plan, step 1: every drift row with the response that decides it
-- (docs/plan.md). The first [[attribute.rule]] of the row's attribute whose
-- kind fits ('any' or the row's kind) and whose glob pattern matches the value
-- decides; else the attribute's on_drift. Value and pattern are both
-- normalised by the attribute's compare kind; the value matched is the
-- endpoint's, or the repository's for a 'removed' row. pos numbers the rows in
-- the order their events are written (by account, attribute, kind, value).
CREATE OR REPLACE TEMP TABLE plan_drift_row AS
WITH rules AS (
    SELECT unnest($rules::STRUCT(attr_idx INTEGER, pos INTEGER, pattern VARCHAR, kind VARCHAR,
                                 response VARCHAR, alert VARCHAR)[], recursive := true)
),
policy AS (
    SELECT generate_subscripts($on_drift::VARCHAR[], 1) AS attr_idx,
           unnest($on_drift::VARCHAR[])                  AS on_drift
),
numbered AS (
    SELECT row_number() OVER () AS drift_id, * FROM drift
),
hits AS (
    SELECT d.drift_id, arg_min({'response': r.response, 'alert': r.alert}, r.pos) AS hit
    FROM numbered d
    JOIN rules r ON r.attr_idx = d.attr_idx AND r.kind IN ('any', d.kind)
    WHERE rd_norm(coalesce(d.endpoint_value, d.repository_value), d.compare)
          GLOB rd_norm(r.pattern, d.compare)
    GROUP BY d.drift_id
)
SELECT
    row_number() OVER (ORDER BY d.ep_row, d.attr_idx, d.kind, d.endpoint_value,
                                d.repository_value) AS pos,
    d.ep_row, d.attr_idx, d.attribute, d.repository_attribute, d.compare, d.kind,
    d.endpoint_value, d.repository_value, d.endpoint_values, d.repository_values,
    coalesce(h.hit.response, p.on_drift) AS response,
    h.hit.alert                          AS alert
FROM numbered d
JOIN policy p USING (attr_idx)
LEFT JOIN hits h USING (drift_id);
