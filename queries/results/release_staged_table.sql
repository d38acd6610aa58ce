-- situations_out reads the kept rows (results/release_in_sync.sql) from now
-- on, with the same columns; the staged table, one row per record, is dropped.
CREATE OR REPLACE TEMP VIEW situations_out AS SELECT * FROM situations_kept;
DROP TABLE situations_staged;
