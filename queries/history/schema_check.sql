-- Fails (as "not a recondiff run history") when the file lacks the tables.
SELECT count(*) FROM runs, (SELECT 1 FROM findings LIMIT 0);
