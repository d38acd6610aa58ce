-- Report: the most frequent endpoint value -> repository value transitions of
-- 'changed' drift rows, the top $top per attribute.
-- (values cut as the report shows them, after counting: rd_shown)
SELECT attr_idx, rd_shown(endpoint_value) AS endpoint_value,
       rd_shown(repository_value) AS repository_value, n
FROM (
    SELECT
        attr_idx, endpoint_value, repository_value, count(*) AS n,
        row_number() OVER (
            PARTITION BY attr_idx
            ORDER BY count(*) DESC, endpoint_value NULLS FIRST, repository_value NULLS FIRST
        ) AS rk
    FROM drift
    WHERE kind = 'changed'
    GROUP BY attr_idx, endpoint_value, repository_value
)
WHERE rk <= $top
ORDER BY attr_idx, rk;
