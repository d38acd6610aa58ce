-- situations.parquet in its documented column order (docs/outputs.md): the
-- staged situations table (results/situations_staged.sql), a plain scan of
-- one table, so in its order (tests/test_situations_order.py checks the order
-- on 220,000 rows); situation and sync spelled from the rank and the drift
-- count (results/release_situation_table.sql).
-- The key and the DN are written as columns that may hold NULLs, as when
-- they came out of a join: DuckDB writes a column its statistics say holds no
-- NULL as "required", and the staged table's key column holds none. Same
-- file, byte for byte.
-- Snappy, not zstd: snappy writes faster, for a bigger file
-- (benchmarks/NOTES.md).
COPY (
    SELECT
        rd_situations()[rank] AS situation,
        rd_out_sync(rank, n) AS sync,
        CASE WHEN endpoint_key IS NULL THEN NULL ELSE endpoint_key END AS endpoint_key,
        CASE WHEN endpoint_dn IS NULL THEN NULL ELSE endpoint_dn END AS endpoint_dn,
        identity_key,
        rule,
        candidates,
        rd_out_drift(rank, n) AS drift_attributes,
        ep_row AS endpoint_record,
        id_row AS identity_record
    FROM situations_staged
) TO $path (FORMAT parquet, COMPRESSION snappy);
