-- Report alerts by default (recondiff/plan/privileged.py, docs/config.md
-- privileged_groups): accounts no live identity owns (unmatched,
-- deleted_in_repository) holding a privileged group in one of the group columns
-- ({{groups}}: a list of the columns' value lists, memberOf and the mapped group
-- attributes, read from the snapshot whether mapped or not), or with adminCount = 1
-- ({{admin_count}}: the adminCount column, or NULL). col names the group column
-- (1-based), 0 adminCount; value lists the privileged groups held.
WITH lists AS MATERIALIZED (
    SELECT rd_privileged_names($privileged_names::VARCHAR[]) AS names,
           rd_privileged_dns($privileged_dns::VARCHAR[]) AS dns
),
s AS (
    SELECT endpoint_record - 1 AS file_row, situation
    FROM read_parquet($situations_parquet)
    WHERE situation IN ('unmatched', 'deleted_in_repository')
),
e AS (
    SELECT CAST(file_row_number AS BIGINT) + 1 AS ep_row, {{groups}} AS groups,
           {{admin_count}} AS admin_count, file_row_number AS file_row
    FROM read_parquet($endpoint_path, file_row_number = true)
    -- bare file_row_number: the scan filters (drift/differences.sql says why)
    WHERE file_row_number IN (SELECT file_row FROM s)
),
held AS (
    SELECT e.ep_row, e.file_row, c.col, unnest(e.groups[c.col]) AS value
    FROM e CROSS JOIN (SELECT unnest(generate_series(1, $group_columns)) AS col) c
),
found AS (
    SELECT ep_row, file_row, col, string_agg(DISTINCT value, '; ' ORDER BY value) AS value
    FROM held CROSS JOIN lists l
    WHERE rd_privileged_norm(value, l.names, l.dns)
    GROUP BY ep_row, file_row, col
    UNION ALL
    SELECT ep_row, file_row, 0, admin_count
    FROM e
    WHERE $admin_count AND rd_integer(admin_count) = '1'
)
SELECT f.ep_row, f.col, s.situation, rd_shown(f.value) AS value
FROM found f
JOIN s USING (file_row)
ORDER BY f.ep_row, f.col;
