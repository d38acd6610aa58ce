-- Report: the raw values of every compared attribute on both sides, for the
-- accounts (by endpoint record) and missing identities (by key) the report
-- shows; the side-by-side views are built from these and the drift rows.
-- The snapshots are filtered on the bare file_row_number (not the cast record
-- number) so that DuckDB pushes the picked records' range into the Parquet
-- scan and skips the row groups outside it (benchmarks/NOTES.md).
WITH situations AS (
    SELECT endpoint_record AS ep_row, identity_record AS id_row, situation, identity_key
    FROM situations_out
),
pick AS (
    SELECT * FROM situations WHERE ep_row IN (SELECT unnest($ep_rows::BIGINT[]))
    UNION ALL
    SELECT * FROM situations
    -- the missing keys as report/rows.sql showed them
    WHERE situation = 'missing'
      AND rd_shown(identity_key) IN (SELECT unnest($missing_keys::VARCHAR[]))
),
e AS (
    SELECT CAST(file_row_number AS BIGINT) + 1 AS ep_row, {{values}} AS vals
    FROM read_parquet($endpoint_path, file_row_number = true)
    WHERE file_row_number IN (SELECT ep_row - 1 FROM pick)
),
r AS (
    SELECT CAST(file_row_number AS BIGINT) + 1 AS id_row, {{repository_values}} AS vals
    FROM read_parquet($repository_path, file_row_number = true)
    WHERE file_row_number IN (SELECT id_row - 1 FROM pick)
)
-- every value cut as the report shows it (rd_shown)
SELECT p.ep_row, p.id_row, p.situation, rd_shown(p.identity_key) AS identity_key,
       list_transform(e.vals, lambda l: list_transform(l, lambda x: rd_shown(x))) AS endpoint_values,
       list_transform(r.vals, lambda l: list_transform(l, lambda x: rd_shown(x))) AS repository_values
FROM pick p
LEFT JOIN e USING (ep_row)
LEFT JOIN r USING (id_row)
-- a fixed order: the report's detail ids (d1, d2, ...) follow it
ORDER BY p.ep_row NULLS LAST, p.identity_key;
