-- Identity policies: every `when` and `set_sql` bound against the repository
-- snapshot at once, over no row: their types (a `when` is a predicate, a
-- `set_sql` a single value). When this fails, recondiff/engine/policies.py
-- checks each alone (check/expression.sql) so that the error names it. Each
-- expression was parsed first and is one plain expression, and this runs on
-- the run's confined connection, like every config expression.
SELECT {{expressions}}, file_row_number
FROM read_parquet($path, file_row_number = true)
LIMIT 0;
