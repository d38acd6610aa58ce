-- Action plan, step 4b: the finding key (macros/situations.sql rd_finding_key)
-- of every drift row: the pair's account and identity, its situation, the
-- attribute type ($finding_attrs: one per [[attribute]], recondiff/plan/findings.py)
-- and the row's values on both sides, normalised by the attribute's compare
-- kind and sorted. plan/suppress.sql drops the rows an exception accepts;
-- plan/events.sql writes the others' keys into their events.
CREATE OR REPLACE TEMP TABLE plan_drift_finding AS
WITH names AS (
    SELECT generate_subscripts($finding_attrs::VARCHAR[], 1) AS attr_idx,
           unnest($finding_attrs::VARCHAR[])                  AS finding_attr
)
SELECT d.pos,
       rd_finding_key(r.endpoint_key, r.identity_key, u.uuid, r.situation, n.finding_attr,
                      {'kind': d.kind,
                       'endpoint': rd_finding_values(coalesce(d.endpoint_values,
                                                              [d.endpoint_value]), d.compare),
                       'repository': rd_finding_values(coalesce(d.repository_values,
                                                                [d.repository_value]),
                                                       d.compare)}) AS finding_key
FROM plan_drift_row d
JOIN plan_row r ON r.endpoint_record = d.ep_row
JOIN names n USING (attr_idx)
LEFT JOIN plan_uuid u ON u.ep_row = d.ep_row;
