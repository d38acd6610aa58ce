-- in_sync / drifted per situation (linked, correlated); drifted = has drift rows.
SELECT
    s.situation,
    CASE WHEN d.ep_row IS NULL THEN 'in_sync' ELSE 'drifted' END AS sync,
    count(*) AS n
FROM situation s
LEFT JOIN (SELECT DISTINCT ep_row FROM drift) d USING (ep_row)
WHERE s.situation IN ('linked', 'correlated')
GROUP BY ALL;
