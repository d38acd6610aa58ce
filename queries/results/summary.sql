-- Counts for summary.json: endpoint records per situation (missing counts
-- identities), accounts drifting per attribute, accounts with any drift,
-- drift rows.
SELECT 'situation' AS what, situation AS name, count(*) AS n FROM situation GROUP BY situation
UNION ALL
SELECT 'attribute', attribute, count(DISTINCT ep_row) FROM drift GROUP BY attribute
UNION ALL
SELECT 'drift_accounts', NULL, count(DISTINCT ep_row) FROM drift
UNION ALL
SELECT 'drift_rows', NULL, count(*) FROM drift
UNION ALL
SELECT 'blank_keys', NULL, count(*) FROM blank_records;
