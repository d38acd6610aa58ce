-- Checks a config expression (scope, *_sql) against a snapshot without reading
-- rows; its result type tells a predicate from a value or a list.
SELECT ({{expression}}) AS value FROM read_parquet($path) LIMIT 0;
