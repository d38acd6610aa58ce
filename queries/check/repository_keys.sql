-- The repository is the side recondiff takes as truth: its key must be present
-- and unique. Returns the first few problems (an input error when any).
-- The repeated keys are found first by a plain count; only their records are
-- then gathered in order (an ordered list for every key's group was slow at
-- 10M: benchmarks/NOTES.md).
WITH repeated AS (
    SELECT id_key_norm FROM repo WHERE id_key_norm IS NOT NULL
    GROUP BY id_key_norm HAVING count(*) > 1
)
SELECT problem, id_key, rows
FROM (
    SELECT 'blank' AS problem, NULL AS id_key, list(id_row ORDER BY id_row)[1:5] AS rows, 0 AS o
    FROM repo WHERE id_key_norm IS NULL
    HAVING count(*) > 0
    UNION ALL
    SELECT 'duplicate', min(id_key), list(id_row ORDER BY id_row)[1:5], min(id_row)
    FROM repo WHERE id_key_norm IN (SELECT id_key_norm FROM repeated)
    GROUP BY id_key_norm
)
ORDER BY o
LIMIT 5;
