-- Report: the values most often added (only on the endpoint) or removed (only
-- in the repository) in set attributes.
SELECT attribute, kind, coalesce(endpoint_value, repository_value) AS value, count(*) AS n
FROM drift
WHERE kind IN ('added', 'removed')
GROUP BY attribute, kind, value
ORDER BY n DESC, attribute, kind, value
LIMIT $top;
