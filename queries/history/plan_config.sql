-- The config of the recorded run that wrote the plan $digest (its summary's
-- plan digest): the decisions of a plan no run of this history wrote are not
-- recorded (recondiff/history.py record_exceptions).
SELECT config_key FROM runs
WHERE json_extract_string(summary, '$.plan.digest') = $digest
ORDER BY finished_at DESC
LIMIT 1;
