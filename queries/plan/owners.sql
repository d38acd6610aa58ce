-- Action plan, step 4b: the owner decisions (docs/plan.md, Owners). For each
-- unmatched, ambiguous or collision account in $owner_situations, one pending
-- repository `link` event (response assign_owner) listing its candidates: the
-- identities its correlation rules (or links) matched (classify/owner_hits.sql),
-- each with the rules that matched and how many compared attributes agree
-- (both sides normalised by the attribute's compare kind, read for just these
-- records), best first, at most $max_candidates; and the config's default
-- identity (when the repository snapshot has it). An account with no candidate
-- gets one only when there is a default identity. The reviewer picks the owner (`plan assign`); the link the event
-- writes is the chosen identity's.
CREATE OR REPLACE TEMP TABLE plan_owner_event AS
WITH default_owner AS (
    -- the config's default identity, only when the repository snapshot has it
    SELECT any_value({{repository_key}}) AS key
    FROM read_parquet($repository_path)
    WHERE $default_identity IS NOT NULL AND rd_key({{repository_key}}) = rd_key($default_identity)
),
wanted AS (
    SELECT ord, endpoint_record AS ep_row, situation, rule, endpoint_key, endpoint_dn
    FROM plan_row
    WHERE list_contains($owner_situations::VARCHAR[], situation)
      AND endpoint_record IS NOT NULL AND coalesce(endpoint_key, '') <> ''
),
hit AS (
    SELECT h.* FROM owner_hit h SEMI JOIN wanted w ON w.ep_row = h.ep_row
),
e AS (
    SELECT CAST(file_row_number AS BIGINT) + 1 AS ep_row, {{endpoint_norm}} AS norm
    FROM read_parquet($endpoint_path, file_row_number = true)
    -- on the bare file_row_number, so that the scan filters (drift/differences.sql)
    WHERE file_row_number IN (SELECT ep_row - 1 FROM hit)
),
r AS (
    SELECT CAST(file_row_number AS BIGINT) + 1 AS id_row, {{repository_norm}} AS norm
    FROM read_parquet($repository_path, file_row_number = true)
    WHERE file_row_number IN (SELECT id_row - 1 FROM hit)
),
scored AS (
    SELECT h.ep_row, h.identity_key, h.rules,
           len(list_filter(range(1, len(e.norm) + 1),
                           lambda i: e.norm[i] IS NOT NULL AND e.norm[i] = r.norm[i]))
               AS agreeing
    FROM hit h
    JOIN e USING (ep_row)
    JOIN r USING (id_row)
),
ranked AS (
    -- each matched rule outweighs every compared attribute
    SELECT *, len(rules) * ($attributes + 1) + agreeing AS score
    FROM scored
    QUALIFY row_number() OVER (PARTITION BY ep_row
                               ORDER BY len(rules) * ($attributes + 1) + agreeing DESC,
                                        identity_key) <= $max_candidates
),
candidates AS (
    SELECT ep_row,
           list({'agreeing': agreeing, 'identity_key': identity_key, 'rules': rules,
                 'score': score} ORDER BY score DESC, identity_key) AS candidates
    FROM ranked
    GROUP BY ep_row
),
owner AS (
    SELECT w.*, coalesce(c.candidates, []) AS candidates, u.uuid,
           (SELECT key FROM default_owner) AS default_key,
           [rd_change('replace', $link_attr, [w.endpoint_key])] AS changes
    FROM wanted w
    LEFT JOIN candidates c USING (ep_row)
    LEFT JOIN plan_uuid u USING (ep_row)
    WHERE c.candidates IS NOT NULL OR (SELECT key FROM default_owner) IS NOT NULL
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
