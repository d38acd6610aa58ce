-- When correlation matched every account classify/situations.sql left
-- `unmatched` (classify/correlated.sql updated them all), the situation table
-- is written again: a table's statistics remember every value it ever held,
-- and the NULLs of those rows would make situations.parquet declare a column
-- nullable that holds no NULL (DuckDB writes a column with no NULL as
-- required). Rewritten, the table is as if its rows had been written at once.
-- (With one account left unmatched, its row holds those same NULLs: no rewrite.)
CREATE OR REPLACE TEMP TABLE situation AS
SELECT * FROM situation;
