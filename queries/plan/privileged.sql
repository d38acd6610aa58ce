-- Action plan, step 1a': the default privileged-group alerts (recondiff/plan/privileged.py,
-- docs/config.md privileged_groups), run after plan/drift_rules (or drift_no_rules)
-- when they are on. A drift row gets the alert when it is
--   * 'added' (on the endpoint, not in the repository) on a group attribute
--     ($group_attrs) and its value is a privileged group (rd_privileged), or
--   * on an adminCount attribute ($admin_count_attrs), 1 on the endpoint and not 1
--     in the repository, or
--   * on a primaryGroupID attribute ($primary_group_attrs), a privileged group's RID
--     ($primary_group_rids) on the endpoint and another value in the repository
--     (the group alert: a primary group is a membership memberOf never lists), or
--   * 'removed' (in the repository, not on the endpoint: the event adds it) on a
--     group attribute, its value a privileged group that an identity policy grants
--     (policy_why, matched as plan/events.sql matches a drift row's `expected`):
--     one careless `when` would add everyone to it. The alert names the policy,
--     and the row is held for review unless a rule's alert decided it.
-- plan_drift_hit keeps each row's rule (response and alert); a rule's alert wins,
-- and a row no rule decides gets the alert with no response (plan/drift.sql then
-- takes the attribute's on_drift, as before). A row the default alert marks whose
-- response would be do_nothing (a rule without alert, or on_drift) is held for
-- review instead: a do_nothing row has no event, and the alert would be lost.
CREATE OR REPLACE TEMP TABLE plan_drift_hit AS
WITH lists AS MATERIALIZED (
    SELECT rd_privileged_names($privileged_names::VARCHAR[]) AS names,
           rd_privileged_dns($privileged_dns::VARCHAR[]) AS dns
),
granted AS (
    SELECT d.rowid AS drift_id,
           $policy_group_alert || ' ' || pw.policy
               || coalesce(' (when ' || pw."when" || ')', '') AS alert
    FROM drift d CROSS JOIN lists l
    JOIN policy_why pw
      ON pw.identity_norm = rd_key(d.identity_key)
     AND pw.attribute_norm = lower(list_extract($repository_columns::VARCHAR[], d.attr_idx))
     AND pw.value = d.repository_value
    WHERE list_contains($group_attrs::INTEGER[], d.attr_idx) AND d.kind = 'removed'
      AND rd_privileged_norm(d.repository_value, l.names, l.dns)
),
privileged AS (
    SELECT drift_id, alert, true AS hold FROM granted
    UNION ALL
    SELECT d.rowid AS drift_id,
           CASE WHEN list_contains($admin_count_attrs::INTEGER[], d.attr_idx)
                THEN $admin_count_alert ELSE $group_alert END AS alert,
           false AS hold
    FROM drift d CROSS JOIN lists l
    WHERE (list_contains($group_attrs::INTEGER[], d.attr_idx) AND d.kind = 'added'
           AND rd_privileged_norm(d.endpoint_value, l.names, l.dns))
       OR (list_contains($admin_count_attrs::INTEGER[], d.attr_idx)
           AND rd_integer(d.endpoint_value) = '1'
           AND rd_integer(d.repository_value) IS DISTINCT FROM '1')
       OR (list_contains($primary_group_attrs::INTEGER[], d.attr_idx)
           AND list_contains($primary_group_rids::VARCHAR[], rd_integer(d.endpoint_value))
           AND rd_integer(d.repository_value) IS DISTINCT FROM rd_integer(d.endpoint_value))
)
SELECT coalesce(h.drift_id, p.drift_id) AS drift_id,
       {'response': CASE WHEN h.hit.alert IS NULL AND p.hold THEN 'review'
                         WHEN h.hit.alert IS NULL AND p.alert IS NOT NULL
                              AND coalesce(h.hit.response,
                                           (CAST($on_drift AS VARCHAR[]))[d.attr_idx])
                                  = 'do_nothing'
                         THEN 'review' ELSE h.hit.response END,
        'alert': coalesce(h.hit.alert, p.alert)} AS hit
FROM plan_drift_hit h
FULL JOIN privileged p ON p.drift_id = h.drift_id
LEFT JOIN drift d ON d.rowid = coalesce(h.drift_id, p.drift_id);
