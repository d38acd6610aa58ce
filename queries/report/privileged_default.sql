-- Report alerts by default (recondiff/plan/privileged.py, docs/config.md
-- privileged_groups): accounts in any situation but linked and correlated (those
-- have drift, and plan/privileged.sql marks their events) holding a privileged group
-- in one of the group columns ({{groups}}: a list of the columns' value lists,
-- memberOf and the mapped group attributes, read from the snapshot whether mapped
-- or not), with adminCount = 1 ({{admin_count}}: the adminCount column, or NULL),
-- or with a primaryGroupID among $primary_group_rids ({{primary_group}}: the
-- primaryGroupID column, or NULL). col names the group column (1-based), 0
-- adminCount, -1 primaryGroupID; value lists the privileged groups held.
WITH lists AS MATERIALIZED (
    SELECT rd_privileged_names($privileged_names::VARCHAR[]) AS names,
           rd_privileged_dns($privileged_dns::VARCHAR[]) AS dns
),
s AS (
    SELECT endpoint_record - 1 AS file_row, situation
    FROM situations_out
    WHERE endpoint_record IS NOT NULL AND situation NOT IN ('linked', 'correlated')
),
e AS (
    SELECT CAST(file_row_number AS BIGINT) + 1 AS ep_row, {{groups}} AS groups,
           {{admin_count}} AS admin_count, {{primary_group}} AS primary_group,
           file_row_number AS file_row
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
    UNION ALL
    SELECT ep_row, file_row, -1, primary_group
    FROM e
    WHERE $admin_count
      AND list_contains($primary_group_rids::VARCHAR[], rd_integer(primary_group))
)
SELECT f.ep_row, f.col, s.situation, rd_shown(f.value) AS value
FROM found f
JOIN s USING (file_row)
ORDER BY f.ep_row, f.col;
