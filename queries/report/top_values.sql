-- Report: the values most often added (only on the endpoint) or removed (only
-- in the repository) in set attributes.
-- (values cut as the report shows them, after counting: rd_shown)
SELECT attribute, kind, rd_shown(value) AS value, n
FROM (
    SELECT attribute, kind, coalesce(endpoint_value, repository_value) AS value, count(*) AS n
    FROM drift
    WHERE kind IN ('added', 'removed')
    GROUP BY attribute, kind, value
    ORDER BY n DESC, attribute, kind, value
    LIMIT $top
)
ORDER BY n DESC, attribute, kind, value;
