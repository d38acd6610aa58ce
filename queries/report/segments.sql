-- Report: where drift concentrates. Linked and correlated accounts per value of
-- the segment ({{segment}}: [report] segment, else department, else the DN's
-- parent), with how many of them drift; the top $top segments.
WITH pairs AS (
    SELECT endpoint_record AS ep_row, sync FROM situations_out
    WHERE rank IN (rd_rank('linked'), rd_rank('correlated'))
),
segment AS (
    SELECT CAST(file_row_number AS BIGINT) + 1 AS ep_row, {{segment}} AS value
    FROM read_parquet($endpoint_path, file_row_number = true)
)
SELECT rd_shown(value) AS value, drifted, accounts
FROM (
    SELECT
        coalesce(nullif(trim(s.value), ''), '(none)')  AS value,
        count(*) FILTER (WHERE p.sync = 'drifted')      AS drifted,
        count(*)                                        AS accounts
    FROM pairs p
    JOIN segment s USING (ep_row)
    GROUP BY 1
    ORDER BY drifted DESC, accounts DESC, value
    LIMIT $top
)
ORDER BY drifted DESC, accounts DESC, value;
