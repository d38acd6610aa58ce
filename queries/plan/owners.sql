-- Action plan, step 4b (2/2): the owner decisions (docs/plan.md, Owners). For each
-- unmatched, ambiguous or collision account in $owner_situations, one pending
-- repository `link` event (response assign_owner) listing its candidates
-- (plan/owner_candidates.sql: the identities its correlation rules or links
-- matched, scored, best first) and the config's default identity
-- ($default_identity: as the repository snapshot spells it, NULL when it has no
-- such identity, plan/repository_identity.sql). An account with no candidate
-- gets one only when there is a default identity. The reviewer picks the owner
-- (`plan assign`); the link the event writes is the chosen identity's.
CREATE OR REPLACE TEMP TABLE plan_owner_event AS
WITH wanted AS (
    SELECT ord, endpoint_record AS ep_row, situation, rule, endpoint_key, endpoint_dn
    FROM plan_row
    WHERE list_contains($owner_situations::VARCHAR[], situation)
      AND endpoint_record IS NOT NULL AND coalesce(endpoint_key, '') <> ''
),
owner AS (
    SELECT w.*, coalesce(c.candidates, []) AS candidates, u.uuid,
           CAST($default_identity AS VARCHAR) AS default_key,
           [rd_change('replace', $link_attr, [w.endpoint_key])] AS changes
    FROM wanted w
    LEFT JOIN plan_owner_candidates c USING (ep_row)
    LEFT JOIN plan_uuid u USING (ep_row)
    WHERE c.candidates IS NOT NULL OR $default_identity IS NOT NULL
)
SELECT ord, 0 AS grp, 1 AS sub1, 0 AS sub2, 'link' AS operation, 'assign_owner' AS response,
       true AS review, CAST(NULL AS VARCHAR) AS alert,
       to_json({
           'alert': CAST(NULL AS VARCHAR),
           'approval': rd_approval(true),
           'changes': changes,
           'id': rd_event_id('repository', 'link', endpoint_key, endpoint_dn, NULL, NULL, NULL,
                             changes),
           'object': {'dn': endpoint_dn, 'identity_key': CAST(NULL AS VARCHAR),
                      'key': endpoint_key},
           'operation': 'link',
           'owner': {'candidates': candidates,
                     'default_identity': CAST(default_key AS VARCHAR),
                     'uuid': uuid},
           'preconditions': [rd_pre($link_attr, [])],
           'reason': {'rule': rule, 'situation': situation},
           'response': 'assign_owner',
           'target': 'repository'
       }) AS line
FROM owner;
