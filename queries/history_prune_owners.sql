-- Only the latest run's identity -> account pairs are needed (vanished.sql),
-- so the earlier runs' pairs of this config go before this run's are added:
-- the file does not grow by a copy of the directory at every run.
DELETE FROM owners
WHERE run_id IN (SELECT run_id FROM runs WHERE config_key = $config_key AND run_id <> $run_id);
