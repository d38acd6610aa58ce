-- Checks a config expression (scope, *_sql) against a snapshot without reading
-- rows; its result type tells a predicate from a value or a list. The row
-- number beside it makes an aggregate (count(*) > 0) fail here, not mid-run.
-- The expression was parsed first and is one plain expression (no ';', no
-- subquery or table function: recondiff/config/expression.py), and this runs on
-- the run's confined connection (recondiff/engine/confine.py, lock_down).
SELECT ({{expression}}) AS value, file_row_number
FROM read_parquet($path, file_row_number = true)
LIMIT 0;
