-- Every recorded run, newest first (recondiff history), or the last $limit
-- runs of one config for the report's trend.
SELECT run_id, config_key, config_path, outdir,
       epoch_us(started_at) AS started_us, epoch_us(finished_at) AS finished_us, summary
FROM runs
WHERE $config_key IS NULL OR config_key = $config_key
ORDER BY finished_at DESC, run_id DESC
LIMIT $limit;
