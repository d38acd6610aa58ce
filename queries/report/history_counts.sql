-- Report: findings new since the previous run of this config, resolved since
-- (up to $limit of them listed), and persisting.
WITH current AS (
    SELECT DISTINCT rd_finding(situation, sync, endpoint_key, identity_key) AS finding_key
    FROM read_parquet($situations_parquet)
    WHERE rd_is_finding(situation, sync)
),
previous AS (
    SELECT finding_key, any_value(situation) AS situation, any_value(endpoint_key) AS endpoint_key,
           any_value(identity_key) AS identity_key
    FROM previous_findings GROUP BY finding_key
)
SELECT
    'count' AS what,
    (SELECT count(*) FROM current WHERE finding_key NOT IN (SELECT finding_key FROM previous))
        AS new,
    (SELECT count(*) FROM previous WHERE finding_key NOT IN (SELECT finding_key FROM current))
        AS resolved,
    (SELECT count(*) FROM current WHERE finding_key IN (SELECT finding_key FROM previous))
        AS persisting,
    NULL AS situation, NULL AS endpoint_key, NULL AS identity_key
UNION ALL
(SELECT 'resolved', NULL, NULL, NULL, situation, rd_shown(endpoint_key), rd_shown(identity_key)
 FROM previous
 WHERE finding_key NOT IN (SELECT finding_key FROM current)
 ORDER BY situation, endpoint_key, identity_key
 LIMIT $limit);
