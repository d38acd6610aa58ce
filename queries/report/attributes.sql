-- Report: per compared attribute (config order), the accounts drifting in it
-- and its drift rows by kind; 'changed' rows split by the null taxonomy:
-- only on the endpoint (the repository has no value), only in the repository
-- (the endpoint has none), or both sides hold values that differ.
WITH mapping AS (
    SELECT generate_subscripts($attributes::VARCHAR[], 1) AS attr_idx
)
SELECT
    m.attr_idx,
    count(DISTINCT d.ep_row)                                              AS accounts,
    count(d.kind) FILTER (WHERE d.kind = 'changed')                       AS changed,
    count(d.kind) FILTER (WHERE d.kind = 'changed' AND d.repository_value IS NULL)
                                                                          AS only_endpoint,
    count(d.kind) FILTER (WHERE d.kind = 'changed' AND d.endpoint_value IS NULL)
                                                                          AS only_repository,
    count(d.kind) FILTER (WHERE d.kind = 'changed' AND d.endpoint_value IS NOT NULL
                                AND d.repository_value IS NOT NULL)       AS both_differ,
    count(d.kind) FILTER (WHERE d.kind = 'added')                         AS added,
    count(d.kind) FILTER (WHERE d.kind = 'removed')                       AS removed
FROM mapping m
LEFT JOIN drift d USING (attr_idx)
GROUP BY m.attr_idx
ORDER BY m.attr_idx;
