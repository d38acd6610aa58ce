-- The newest recorded explore of one source with a high-water mark
-- (recondiff/explore/state.py: where the next --since-last starts).
SELECT source, epoch_us(explored_at) AS explored_us, read_seconds, change_attribute,
       high_water, delta, since, entries, snapshot
FROM explores
WHERE source_key = $source_key AND change_attribute = $change_attribute
  AND high_water IS NOT NULL
ORDER BY explored_at DESC
LIMIT 1;
