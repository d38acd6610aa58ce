-- The latest run of the same config (endpoint and repository names), with its
-- summary.json (its input row counts feed the shrink guard, recondiff/engine/resolve.py).
-- (times as microseconds since the epoch: fetching TIMESTAMPTZ would need pytz)
SELECT run_id, epoch_us(finished_at) AS finished_us, summary FROM runs
WHERE config_key = $config_key
ORDER BY finished_at DESC, run_id DESC
LIMIT 1;
