-- Action plan, step 1c, with identity policies (docs/policies.md): a drift row
-- of an attribute on which the identity's policies conflict gets no event
-- (do_nothing: a finding, never a guess); with [policies] response = "review",
-- a drift row on a column the policies changed for its identity in this run
-- waits for review, with the policies' repository event (rejecting the policy
-- change must stop it reaching the directory too). An attribute is matched by
-- the repository columns it reads ($policy_reads: its column, or those its
-- repository_sql names).
UPDATE plan_drift_row SET response = CASE WHEN h.conflict THEN 'do_nothing' ELSE 'review' END
FROM (
    WITH reads AS (
        SELECT unnest($policy_reads::STRUCT(attr_idx INTEGER, col VARCHAR)[], recursive := true)
    ),
    drifted AS (
        SELECT d.pos, rd_key(r.identity_key) AS identity_norm, reads.col
        FROM plan_drift_row d
        JOIN plan_row r ON r.endpoint_record = d.ep_row
        JOIN reads ON reads.attr_idx = d.attr_idx
    ),
    changed AS (
        SELECT DISTINCT rd_key(identity_key) AS identity_norm, lower(c.attribute) AS col
        FROM (SELECT identity_key, unnest(changes) AS c FROM policy_change)
    )
    SELECT drifted.pos,
           bool_or(c.identity_norm IS NOT NULL) AS conflict,
           bool_or(ch.identity_norm IS NOT NULL) AS changed
    FROM drifted
    LEFT JOIN policy_conflict c
           ON c.identity_norm = drifted.identity_norm AND c.attribute_norm = drifted.col
    LEFT JOIN changed ch
           ON $policy_review AND ch.identity_norm = drifted.identity_norm AND ch.col = drifted.col
    GROUP BY drifted.pos
) h
WHERE plan_drift_row.pos = h.pos
  AND (h.conflict OR (h.changed AND plan_drift_row.response IN ('update_endpoint', 'reject')));
