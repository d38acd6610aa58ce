-- Whether the history file has the exceptions table (a history written before
-- it has none: no exception then).
SELECT count(*) > 0 FROM duckdb_tables() WHERE table_name = 'exceptions';
