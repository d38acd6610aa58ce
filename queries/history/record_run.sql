INSERT INTO runs VALUES ($run_id, $config_key, $config_path, $outdir, $started_at, $finished_at, $summary);
