-- Report: findings new since the previous run of this config, resolved since
-- (up to $limit of them listed), and persisting.
--
-- An incremental run ($incremental: the endpoint snapshot holds only the
-- accounts changed since some time, docs/explore.md "Incremental runs") judges
-- only the accounts in it (the delta: every endpoint record of the run, by
-- folded key; history/run_delta.sql, as history/run_findings.sql this run's
-- findings). new, resolved and persisting then speak of the delta's accounts
-- only: a previous finding of an account outside the delta (or of no account)
-- was not looked at, so it is not resolved; it is counted as carried, and
-- history/record_findings.sql carries it over unchanged. In a full run every
-- previous finding is judged and carried is 0.
WITH current AS (
    SELECT DISTINCT finding_key FROM run_findings
),
delta AS (
    SELECT account FROM run_delta
),
every_previous AS (
    SELECT finding_key, any_value(situation) AS situation, any_value(endpoint_key) AS endpoint_key,
           any_value(identity_key) AS identity_key
    FROM previous_findings GROUP BY finding_key
),
-- the previous findings this run judged: all of them, or in an incremental
-- run those of the delta's accounts (and any this run has again)
previous AS (
    SELECT * FROM every_previous p
    WHERE NOT $incremental
       OR EXISTS (SELECT 1 FROM delta d WHERE d.account = rd_key(p.endpoint_key))
       OR p.finding_key IN (SELECT finding_key FROM current)
)
SELECT
    'count' AS what,
    (SELECT count(*) FROM current WHERE finding_key NOT IN (SELECT finding_key FROM previous))
        AS new,
    (SELECT count(*) FROM previous WHERE finding_key NOT IN (SELECT finding_key FROM current))
        AS resolved,
    (SELECT count(*) FROM current WHERE finding_key IN (SELECT finding_key FROM previous))
        AS persisting,
    (SELECT count(*) FROM every_previous
     WHERE finding_key NOT IN (SELECT finding_key FROM previous)) AS carried,
    NULL AS situation, NULL AS endpoint_key, NULL AS identity_key
UNION ALL
(SELECT 'resolved', NULL, NULL, NULL, NULL, situation, rd_shown(endpoint_key),
        rd_shown(identity_key)
 FROM previous
 WHERE finding_key NOT IN (SELECT finding_key FROM current)
 ORDER BY situation, endpoint_key, identity_key
 LIMIT $limit);
