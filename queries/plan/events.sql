-- Action plan, step 5: every event, as the canonical JSON line plan.json holds
-- (docs/plan.md), in plan order: by the situations row it comes from (ord),
-- then the row's account event, the memberships of an account it creates,
-- the modify of its plain drifted attributes (the auto one, then the one to
-- review: each holds only its own attributes), one event per capability value
-- (and per capability value the repository takes), and last the repository's
-- modify for its plain attributes. Policy (which response each situation and
-- drift row gets) was decided before: plan_row.action, plan_drift_row.response.
-- Every event carries the finding keys it comes from (findings: plan/finding_*.sql),
-- which a persistent accept or reject records (recondiff/history.py).
-- Struct fields are declared in sorted order: to_json then writes the
-- canonical form (macros/events.sql).
WITH attrs AS (
    SELECT generate_subscripts($attrs::STRUCT(endpoint VARCHAR, repository VARCHAR,
                                              capability BOOLEAN, membership VARCHAR,
                                              creates BOOLEAN, joins BOOLEAN)[], 1) AS attr_idx,
           unnest($attrs::STRUCT(endpoint VARCHAR, repository VARCHAR, capability BOOLEAN,
                                 membership VARCHAR, creates BOOLEAN, joins BOOLEAN)[],
                  recursive := true)
),

-- --- account events (one per acted-on situations row) -------------------------
acted AS (
    SELECT r.*, a.vals AS acc_vals, coalesce(a.extra, []) AS acc_extra,
           -- the finding it comes from (plan/finding_accounts.sql)
           rd_findings(NULL, f.finding_key) AS findings,
           i.vals AS id_vals, i.dn_values,
           -- the entry itself (entryUUID/objectGUID at export): a DN re-used by
           -- another object fails the assertion
           (CASE WHEN u.uuid IS NULL THEN rd_no_pre()
                 ELSE [rd_pre(CAST($uuid_attr AS VARCHAR), [u.uuid])] END)
           || [rd_pre($key_attr, CASE WHEN coalesce(r.endpoint_key, '') = '' THEN []
                                   ELSE [r.endpoint_key] END)]
           || list_transform(
                  list_filter($asserted::STRUCT(idx INTEGER, name VARCHAR)[],
                              lambda x: x.idx <= len(coalesce(a.vals, []))),
                  lambda x: rd_pre(x.name, a.vals[x.idx])) AS account_pre
    FROM plan_row r
    LEFT JOIN plan_account a ON a.ep_row = r.endpoint_record
    LEFT JOIN plan_row_finding f ON f.ord = r.ord
    LEFT JOIN plan_uuid u ON u.ep_row = r.endpoint_record
    LEFT JOIN plan_identity i
           ON i.identity_norm = CASE WHEN r.action = 'add_to_endpoint' THEN rd_key(r.identity_key) END
    WHERE r.action IS NOT NULL
),
disabling AS (
    -- how the endpoint kind disables (recondiff/plan/ checked the column exists and,
    -- for AD, plan/disable_check.sql that userAccountControl is a number)
    SELECT *,
        TRY_CAST(trim(coalesce(acc_extra[1], '')) AS BIGINT) AS flags,
        CASE $disable_method
            WHEN 'ad' THEN (TRY_CAST(trim(coalesce(acc_extra[1], '')) AS BIGINT) & 2) <> 0
            WHEN 'openldap' THEN len(acc_extra) > 0
            ELSE $disable_has_column
                 AND list_transform(acc_extra, lambda v: rd_fold(v)) = [rd_fold($disable_value)]
        END AS already_disabled
    FROM acted
),
account AS (
    SELECT
        ord, 0 AS grp, 0 AS sub1, 0 AS sub2, situation, rule, response, review, action, findings,
        endpoint_key AS key, endpoint_dn, identity_key, id_vals,
        CASE WHEN action IN ('link', 'unlink', 'assign_default_user', 'add_to_repository',
                             'delete_from_repository') THEN 'repository' ELSE 'endpoint' END
            AS target,
        CASE action
            WHEN 'delete_from_endpoint' THEN 'delete'
            WHEN 'disable_in_endpoint' THEN 'disable'
            WHEN 'add_to_endpoint' THEN 'add'
            WHEN 'link' THEN 'link'
            WHEN 'assign_default_user' THEN 'link'
            WHEN 'unlink' THEN 'unlink'
            WHEN 'add_to_repository' THEN 'add'
            WHEN 'delete_from_repository' THEN 'delete'
        END AS operation,
        CASE WHEN action = 'add_to_endpoint' THEN
            CASE WHEN $dn_literals::VARCHAR[] IS NULL THEN NULL
                 ELSE rd_fill_dn($dn_literals::VARCHAR[], list_transform(
                          range(1, len($dn_literals::VARCHAR[])),
                          lambda i: CASE WHEN list_contains($dn_key_slots::BIGINT[], i)
                                         THEN rd_clean_one(endpoint_key)[1]
                                         ELSE dn_values[i] END))
            END
            ELSE endpoint_dn END AS dn,
        CASE WHEN action = 'assign_default_user' THEN $default_identity ELSE identity_key END
            AS object_identity,
        CASE action
            WHEN 'disable_in_endpoint' THEN
                rd_disable_changes($disable_method, acc_extra, $disable_attribute, $disable_value)
            WHEN 'add_to_endpoint' THEN
                (CASE WHEN len($object_class::VARCHAR[]) > 0
                      THEN [rd_change('add', 'objectClass', $object_class::VARCHAR[])]
                      ELSE rd_no_changes() END)
                || (CASE WHEN coalesce(endpoint_key, '') <> ''
                         THEN [rd_change('add', $key_attr, [endpoint_key])]
                         ELSE rd_no_changes() END)
                || list_filter(
                       list_transform(
                           $attrs::STRUCT(endpoint VARCHAR, repository VARCHAR,
                                          capability BOOLEAN, membership VARCHAR,
                                          creates BOOLEAN, joins BOOLEAN)[],
                           lambda x, i: CASE WHEN x.creates THEN
                               rd_change('add', x.endpoint, coalesce(id_vals[i], [])) END),
                       lambda c: c IS NOT NULL AND len(c."values") > 0)
            WHEN 'link' THEN [rd_change('replace', $link_attr, [endpoint_key])]
            WHEN 'assign_default_user' THEN [rd_change('replace', $link_attr, [endpoint_key])]
            WHEN 'unlink' THEN [rd_change('delete', $link_attr, [endpoint_key])]
            WHEN 'add_to_repository' THEN
                list_filter(
                    list_transform(
                        $attrs::STRUCT(endpoint VARCHAR, repository VARCHAR,
                                       capability BOOLEAN, membership VARCHAR,
                                       creates BOOLEAN, joins BOOLEAN)[],
                        -- a derived repository side (repository_sql, NULL) is not written
                        lambda x, i: CASE WHEN x.repository IS NOT NULL THEN
                            rd_change('add', x.repository, coalesce(acc_vals[i], [])) END),
                    lambda c: c IS NOT NULL AND len(c."values") > 0)
                || [rd_change('add', $link_attr, [endpoint_key])]
            ELSE rd_no_changes()
        END AS changes,
        CASE action
            WHEN 'delete_from_endpoint' THEN account_pre
            WHEN 'disable_in_endpoint' THEN account_pre || rd_disable_pre(
                $disable_method, acc_extra, $disable_attribute, $disable_has_column)
            WHEN 'link' THEN [rd_pre($link_attr, [])]
            WHEN 'assign_default_user' THEN [rd_pre($link_attr, [])]
            WHEN 'unlink' THEN [rd_pre($link_attr, [endpoint_key])]
            ELSE rd_no_pre()
        END AS preconditions,
        -- a rejected new account: the reviewer picks delete or disable per account
        -- (docs/plan.md, Rejecting a new account); each with what apply needs
        CASE WHEN situation = 'unmatched' AND response IN ('reject', 'review')
                  AND action IN ('delete_from_endpoint', 'disable_in_endpoint') THEN {
            'delete': {'changes': rd_no_changes(), 'preconditions': account_pre},
            'disable': CASE WHEN NOT already_disabled THEN {
                'changes': rd_disable_changes($disable_method, acc_extra, $disable_attribute,
                                              $disable_value),
                'preconditions': account_pre || rd_disable_pre(
                    $disable_method, acc_extra, $disable_attribute, $disable_has_column)} END
        } END AS choices
    FROM disabling
    WHERE NOT (action = 'disable_in_endpoint' AND already_disabled)
      AND NOT (action = 'unlink'
               AND (endpoint_key IS NULL OR (situation = 'missing' AND rule IS DISTINCT FROM 'link')))
),

-- --- the groups of an account the plan creates: one membership event each ------
created_lists AS (
    SELECT a.*, m.attr_idx AS list_idx, m.membership, coalesce(a.id_vals[m.attr_idx], []) AS groups
    FROM account a
    JOIN attrs m ON m.joins
    WHERE a.action = 'add_to_endpoint' AND coalesce(a.dn, '') <> ''
),
created_members AS (
    SELECT ord, 1 AS grp, list_idx AS sub1, generate_subscripts(groups, 1) AS sub2,
           situation, rule, response, review, key, dn, object_identity, membership,
           -- no finding of its own: deciding one group of a new account must never
           -- be remembered as a decision on the account (its add event's finding)
           rd_findings(NULL, NULL) AS findings,
           unnest(groups) AS group_dn
    FROM created_lists
),

-- --- drift events (drifted pairs) -----------------------------------------------
drow AS (
    SELECT r.ord, r.endpoint_key AS key, r.endpoint_dn AS dn, r.identity_key, r.situation,
           r.rule, d.pos, d.kind, d.endpoint_value, d.repository_value, d.response, d.alert,
           u.uuid, rd_findings(d.attribute, df.finding_key) AS findings,
           -- the pair itself waits for review (correlated = "review"): so do its fixes
           coalesce(r.review, false) AS pair_review,
           m.capability, m.membership, m.endpoint AS ep_attr, m.repository AS repo_attr,
           -- the attribute type it changes ('*': an OID that may be any)
           list_extract($drift_groups::VARCHAR[], attr_idx) AS ep_group,
           -- with the policy that expects the repository's value, when one does
           -- (policies/why.sql; docs/policies.md)
           CASE WHEN pw.policy IS NULL THEN to_json(
               {'attribute': d.attribute, 'endpoint_value': d.endpoint_value, 'kind': d.kind,
                'repository_value': d.repository_value, 'response': d.response})
           ELSE to_json(
               {'attribute': d.attribute, 'endpoint_value': d.endpoint_value,
                'expected': {'policy': pw.policy, 'when': pw."when"}, 'kind': d.kind,
                'repository_value': d.repository_value, 'response': d.response}) END AS why,
           CASE WHEN d.response = 'update_repository'
                THEN CASE WHEN m.capability THEN 'repository_value' ELSE 'repository' END
                ELSE CASE WHEN m.capability THEN 'value' ELSE 'plain' END END AS cls,
           -- endpoint side: the values to delete and to add
           CASE d.kind WHEN 'changed' THEN rd_clean(d.endpoint_values)
                       WHEN 'added' THEN [d.endpoint_value] ELSE [] END AS old,
           CASE d.kind WHEN 'changed' THEN rd_clean(d.repository_values)
                       WHEN 'added' THEN [] ELSE [d.repository_value] END AS new,
           -- repository side: the change and its precondition
           CASE d.kind
               WHEN 'changed' THEN rd_change('replace', m.repository, rd_clean(d.endpoint_values))
               WHEN 'added' THEN rd_change('add', m.repository, [d.endpoint_value])
               ELSE rd_change('delete', m.repository, [d.repository_value]) END AS repo_change,
           CASE d.kind
               WHEN 'changed' THEN [rd_pre(m.repository, rd_clean(d.repository_values))]
               WHEN 'added' THEN rd_no_pre()
               ELSE [rd_pre(m.repository, [d.repository_value])] END AS repo_pre
    FROM plan_row r
    JOIN plan_drift_row d ON d.ep_row = r.endpoint_record
    LEFT JOIN plan_drift_finding df ON df.pos = d.pos
    JOIN attrs m USING (attr_idx)
    LEFT JOIN plan_uuid u ON u.ep_row = r.endpoint_record
    LEFT JOIN policy_why pw
           ON pw.identity_norm = rd_key(r.identity_key) AND pw.attribute_norm = lower(m.repository)
          AND pw.value = d.repository_value
    -- (an attribute on which the policies conflict is do_nothing: plan/policy_holds.sql)
    WHERE r.sync = 'drifted' AND d.response <> 'do_nothing'
),
-- what one row adds to its account's modify: endpoint side for 'plain' rows
-- (delete the old values, add the new), repository side for 'repository' rows.
-- An account's plain rows make two modifies (docs/plan.md), by ev_cls: 'plain'
-- (auto) and 'plain_review' (held for approval). An attribute type with any row to
-- review is held whole, under all its names (ep_group: sn, surname and 2.5.4.4 are
-- one; an OID recondiff cannot name, '*', goes with every reviewed attribute), so
-- the two never change, or assert, the same attribute: applying one never makes
-- the other stale, and the auto one never carries a reviewed change.
-- Most accounts' rows stand alone in their modify (one drifted attribute per
-- class): those (single) skip the windows and the gathering below, which cost
-- most of the drift events' time; their event is the same as gathered.
drift_item AS (
    SELECT ord, key, dn, identity_key, situation, rule, pair_review, cls, ep_group, response,
           {'pos': pos,
            'changes': CASE WHEN cls = 'plain' THEN
                (CASE WHEN len(old) > 0 THEN [rd_change('delete', ep_attr, old)]
                      ELSE rd_no_changes() END)
                || (CASE WHEN len(new) > 0 THEN [rd_change('add', ep_attr, new)]
                         ELSE rd_no_changes() END)
                ELSE [repo_change] END,
            'pre': CASE WHEN cls = 'plain' THEN
                (CASE WHEN uuid IS NULL THEN rd_no_pre()
                 ELSE [rd_pre(CAST($uuid_attr AS VARCHAR), [uuid])] END)
                || (CASE WHEN kind IN ('changed', 'added') THEN [rd_pre(ep_attr, old)]
                      ELSE rd_no_pre() END)
                ELSE repo_pre END,
            -- why as text inside the item (JSON again in drift): the items are sorted
            -- (drifted_account), and Spark's JSON (VARIANT) has no order
            'why': CAST(why AS VARCHAR), 'response': response, 'alert': alert,
            'findings': findings} AS item
    FROM drow WHERE cls IN ('plain', 'repository')
),
multi AS (
    SELECT ord, cls FROM drift_item GROUP BY ord, cls HAVING count(*) > 1
),
fragment AS (
    SELECT ord, key, dn, identity_key, situation, rule, pair_review, item,
           CASE WHEN cls = 'plain'
                     AND (pair_review
                          OR bool_or(response = 'review')
                              OVER (PARTITION BY ord, cls, ep_group)
                          OR (ep_group = '*' AND bool_or(response = 'review')
                                                     OVER (PARTITION BY ord, cls))
                          OR bool_or(response = 'review' AND ep_group = '*')
                                 OVER (PARTITION BY ord, cls))
                THEN 'plain_review' ELSE cls END AS ev_cls
    FROM drift_item SEMI JOIN multi USING (ord, cls)
),
single AS (
    SELECT ord, CASE WHEN cls = 'plain' THEN 2 ELSE 4 END AS grp,
           CASE WHEN held THEN 1 ELSE 0 END AS sub1, 0 AS sub2,
           key, dn, identity_key, situation, rule,
           CASE WHEN cls = 'plain' THEN 'endpoint' ELSE 'repository' END AS target,
           CASE WHEN cls = 'repository' THEN 'update_repository'
                WHEN held THEN 'review' ELSE response END AS response,
           item.changes AS changes, rd_merge_pre(item.pre) AS preconditions,
           [CAST(item.why AS JSON)] AS drift, item.findings AS findings, item.alert AS alert,
           CASE WHEN cls = 'plain' THEN held ELSE pair_review END AS review
    FROM (
        SELECT *, cls = 'plain' AND (pair_review OR coalesce(response = 'review', false)) AS held
        FROM drift_item ANTI JOIN multi USING (ord, cls)
    )
),
-- The rows of one account are gathered unordered and sorted by pos inside the
-- list: an ordered aggregate (list(... ORDER BY pos)) sorts each group apart,
-- several times slower with many drifted accounts (benchmarks/NOTES.md,
-- EXPLAIN ANALYZE).
drifted_account AS (
    SELECT ord, ev_cls AS cls, any_value(key) AS key, any_value(dn) AS dn,
           any_value(identity_key) AS identity_key, any_value(situation) AS situation,
           any_value(rule) AS rule, bool_or(pair_review) AS pair_review,
           list_sort(list(item)) AS items
    FROM fragment
    GROUP BY ord, ev_cls
),
-- the auto modify first (sub1 0), then the one to review (sub1 1)
plain AS (
    SELECT ord, 2 AS grp, CASE WHEN cls = 'plain' THEN 0 ELSE 1 END AS sub1, 0 AS sub2,
           key, dn, identity_key, situation, rule,
           'endpoint' AS target,
           CASE WHEN cls = 'plain_review' THEN 'review'
                WHEN list_contains(list_transform(items, lambda x: x.response), 'reject')
                    THEN 'reject'
                WHEN list_contains(list_transform(items, lambda x: x.response), 'update_endpoint')
                    THEN 'update_endpoint'
                ELSE items[1].response END AS response,
           flatten(list_transform(items, lambda x: x.changes)) AS changes,
           rd_merge_pre(flatten(list_transform(items, lambda x: x.pre))) AS preconditions,
           list_transform(items, lambda x: CAST(x.why AS JSON)) AS drift,
           flatten(list_transform(items, lambda x: x.findings)) AS findings,
           list_filter(list_transform(items, lambda x: x.alert), lambda a: a IS NOT NULL)[1]
               AS alert,
           cls = 'plain_review' AS review
    FROM drifted_account WHERE cls IN ('plain', 'plain_review')
),
repository AS (
    SELECT ord, 4 AS grp, 0 AS sub1, 0 AS sub2, key, dn, identity_key, situation, rule,
           'repository' AS target, 'update_repository' AS response,
           flatten(list_transform(items, lambda x: x.changes)) AS changes,
           rd_merge_pre(flatten(list_transform(items, lambda x: x.pre))) AS preconditions,
           list_transform(items, lambda x: CAST(x.why AS JSON)) AS drift,
           flatten(list_transform(items, lambda x: x.findings)) AS findings,
           list_filter(list_transform(items, lambda x: x.alert), lambda a: a IS NOT NULL)[1]
               AS alert,
           pair_review AS review
    FROM drifted_account WHERE cls = 'repository'
),
repository_value AS (
    SELECT ord, 3 AS grp, pos AS sub1, 0 AS sub2, key, dn, identity_key, situation, rule,
           'repository' AS target, 'update_repository' AS response,
           [repo_change] AS changes, rd_merge_pre(repo_pre) AS preconditions,
           [why] AS drift, findings, alert, pair_review AS review
    FROM drow WHERE cls = 'repository_value'
),
value_change AS (
    SELECT *,
           CASE WHEN kind = 'added' THEN endpoint_value ELSE repository_value END AS value,
           CASE WHEN kind = 'added' THEN 'delete' ELSE 'add' END AS op,
           CASE WHEN coalesce(dn, '') <> '' THEN [dn] ELSE [] END AS member
    FROM drow WHERE cls = 'value'
),
attribute_value AS (
    SELECT ord, 3 AS grp, pos AS sub1, 0 AS sub2, key, dn, identity_key, situation, rule,
           'endpoint' AS target, response,
           [rd_change(op, ep_attr, [value])] AS changes,
           (CASE WHEN uuid IS NULL THEN rd_no_pre()
                 ELSE [rd_pre(CAST($uuid_attr AS VARCHAR), [uuid])] END)
           || CASE WHEN op = 'delete' THEN [rd_pre(ep_attr, [value])] ELSE rd_no_pre() END
               AS preconditions,
           [why] AS drift, findings, alert, response = 'review' OR pair_review AS review
    FROM value_change WHERE membership IS NULL
),
-- memberOf is computed by the directory: the event changes the group's member list
member_value AS (
    SELECT ord, 3 AS grp, pos AS sub1, 0 AS sub2, key, dn, identity_key, situation, rule,
           response, value, uuid,
           [rd_change(op, membership, member)] AS changes,
           CASE WHEN op = 'delete' THEN [rd_pre(membership, member)] ELSE rd_no_pre() END
               AS preconditions,
           [why] AS drift, findings, alert, response = 'review' OR pair_review AS review
    FROM value_change WHERE membership IS NOT NULL
),
account_object_drift AS (
    SELECT * FROM plain
    UNION ALL BY NAME SELECT * FROM single
    UNION ALL BY NAME SELECT * FROM repository
    UNION ALL BY NAME SELECT * FROM repository_value
    UNION ALL BY NAME SELECT * FROM attribute_value
),

-- --- the lines ------------------------------------------------------------------
lines AS (
    -- one scan of account (a CTE read twice is materialised whole: at 10M that
    -- ran out of the 1 GB memory limit); the struct with choices only where an
    -- event offers them, so the others' lines keep their canonical form
    SELECT ord, grp, sub1, sub2, operation, response, review, NULL AS alert,
           CASE WHEN choices IS NULL THEN to_json({
               'alert': CAST(NULL AS VARCHAR),
               'approval': rd_approval(review),
               'changes': changes,
               'findings': findings,
               'id': rd_event_id(target, operation, key, dn, object_identity, NULL, NULL, changes),
               'object': {'dn': dn, 'identity_key': object_identity, 'key': key},
               'operation': operation,
               'preconditions': preconditions,
               'reason': {'rule': rule, 'situation': situation},
               'response': response,
               'target': target
           }) ELSE to_json({
               'alert': CAST(NULL AS VARCHAR),
               'approval': rd_approval(review),
               'changes': changes,
               'choices': choices,
               'findings': findings,
               'id': rd_event_id(target, operation, key, dn, object_identity, NULL, NULL, changes),
               'object': {'dn': dn, 'identity_key': object_identity, 'key': key},
               'operation': operation,
               'preconditions': preconditions,
               'reason': {'rule': rule, 'situation': situation},
               'response': response,
               'target': target
           }) END AS line
    FROM account
    UNION ALL
    -- the owner decisions (plan/owners.sql)
    SELECT ord, grp, sub1, sub2, operation, response, review, alert, line FROM plan_owner_event
    UNION ALL
    SELECT ord, grp, sub1, sub2, 'modify', response, review, NULL,
           to_json({
               'alert': CAST(NULL AS VARCHAR),
               'approval': rd_approval(review),
               'changes': [rd_change('add', membership, [dn])],
               'findings': findings,
               'id': rd_event_id('endpoint', 'modify', NULL, group_dn, object_identity, key, dn,
                                 [rd_change('add', membership, [dn])]),
               'object': {'dn': group_dn, 'identity_key': object_identity,
                          'key': CAST(NULL AS VARCHAR), 'member_of': {'dn': dn, 'key': key}},
               'operation': 'modify',
               'preconditions': rd_no_pre(),
               'reason': {'rule': rule, 'situation': situation},
               'response': response,
               'target': 'endpoint'
           })
    FROM created_members
    UNION ALL
    SELECT ord, grp, sub1, sub2, 'modify', response, review, alert,
           to_json({
               'alert': alert,
               'approval': rd_approval(review),
               'changes': changes,
               'findings': findings,
               'id': rd_event_id(target, 'modify', key, dn, identity_key, NULL, NULL, changes),
               'object': {'dn': dn, 'identity_key': identity_key, 'key': key},
               'operation': 'modify',
               'preconditions': preconditions,
               'reason': {'drift': drift, 'rule': rule, 'situation': situation},
               'response': response,
               'target': target
           })
    FROM account_object_drift
    UNION ALL
    SELECT ord, grp, sub1, sub2, 'modify', response, review, alert,
           to_json({
               'alert': alert,
               'approval': rd_approval(review),
               'changes': changes,
               'findings': findings,
               'id': rd_event_id('endpoint', 'modify', NULL, value, identity_key, key, dn, changes),
               -- the member's entryUUID/objectGUID, when the export has it (apply checks it)
               'object': {'dn': value, 'identity_key': identity_key,
                          'key': CAST(NULL AS VARCHAR),
                          'member_of': CASE WHEN uuid IS NULL
                                            THEN to_json({'dn': dn, 'key': key})
                                            ELSE to_json({'dn': dn, 'key': key, 'uuid': uuid})
                                       END},
               'operation': 'modify',
               'preconditions': preconditions,
               'reason': {'drift': drift, 'rule': rule, 'situation': situation},
               'response': response,
               'target': 'endpoint'
           })
    FROM member_value
    UNION ALL
    -- the identity policies' changes to the repository (policies/changes.sql), one
    -- event per changed identity, after every other event, in repository order
    SELECT 9223372036854775807 AS ord, 9 AS grp, repo_row AS sub1, 0 AS sub2, 'modify',
           $policy_response, $policy_review, NULL,
           to_json({
               'alert': CAST(NULL AS VARCHAR),
               'approval': rd_approval($policy_review),
               'changes': changes,
               'findings': rd_findings(NULL, NULL),
               'id': rd_event_id('repository', 'modify', NULL, NULL, identity_key, NULL, NULL,
                                 changes),
               'object': {'dn': CAST(NULL AS VARCHAR), 'identity_key': identity_key,
                          'key': CAST(NULL AS VARCHAR)},
               'operation': 'modify',
               'preconditions': rd_merge_pre(preconditions),
               'reason': {'policies': {'allocated': allocated, 'deallocated': deallocated,
                                       'reallocated': reallocated},
                          'rule': CAST(NULL AS VARCHAR), 'situation': 'policy'},
               'response': $policy_response,
               'target': 'repository'
           })
    FROM policy_change
    WHERE $policy_response <> 'do_nothing'
)
SELECT CAST(line AS VARCHAR) AS line, operation, response,
       CASE WHEN review THEN 'pending' ELSE 'auto' END AS state, alert
FROM lines
ORDER BY ord, grp, sub1, sub2;
