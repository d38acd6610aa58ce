-- Report alerts: unmatched accounts holding a value that an alerting
-- [[attribute.rule]] pattern matches (say, a Domain Admins membership nobody in
-- the identity system owns). Matching as in plan/drift.sql.
WITH rules AS (
    SELECT unnest($rules::STRUCT(attr_idx INTEGER, pattern VARCHAR, compare VARCHAR,
                                 alert VARCHAR)[], recursive := true)
),
e AS (
    SELECT CAST(file_row_number AS BIGINT) + 1 AS ep_row, {{values}} AS vals
    FROM read_parquet($endpoint_path, file_row_number = true)
    -- bare file_row_number: the scan filters (drift/differences.sql says why)
    WHERE file_row_number IN
        (SELECT endpoint_record - 1 FROM situations_out
         WHERE situation = 'unmatched')
),
held AS (
    SELECT e.ep_row, r.attr_idx, r.pattern, r.compare, r.alert,
           unnest(e.vals[r.attr_idx]) AS value
    FROM e CROSS JOIN rules r
)
SELECT ep_row, attr_idx, alert, rd_shown(min(value)) AS value
FROM held
WHERE {{norm_value}} GLOB {{norm_pattern}}
GROUP BY ep_row, attr_idx, alert
ORDER BY ep_row, attr_idx, alert;
