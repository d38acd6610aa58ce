-- The staged situations table: one narrow row per record (and missing
-- identity), in situations.parquet's order, so that its rowid is the row's
-- place in the file. situations.parquet and .csv are written from it
-- (a plain scan of one table keeps its order: no second sort), and the plan,
-- the report and the history read it through the view situations_out
-- (results/release_situation_table.sql); none of them reads the file back.
-- Sorted by situation (docs/design.md order: the rank), then the record's
-- position in the endpoint snapshot (missing identities: by identity key).
-- The account's key and DN are read from the snapshot here (a missing
-- identity's absent account keeps the link's value as its key); the DN, long,
-- is dropped once the outputs are written (results/release_situation_dns.sql).
-- The sort carries the rank and the drift count, not the situation and sync
-- spelled from them: a narrower table (benchmarks/NOTES.md).
CREATE OR REPLACE TEMP TABLE situations_staged AS
WITH counts AS (
    SELECT ep_row, count(DISTINCT attribute) AS n FROM drift GROUP BY ep_row
),
e AS (
    SELECT CAST(file_row_number AS BIGINT) + 1 AS ep_row,
           {{key}} AS endpoint_key,
           {{dn}} AS endpoint_dn
    FROM read_parquet($endpoint_path, file_row_number = true)
)
SELECT
    -- rank is the situation's place in rd_situations() (classify/situations.sql);
    -- it and the drift count (at most the number of attributes) in small types
    CAST(s.rank AS UTINYINT) AS rank,
    CAST(c.n AS UINTEGER) AS n,
    coalesce(e.endpoint_key, s.missing_key) AS endpoint_key,
    e.endpoint_dn,
    s.identity_key,
    s.rule,
    s.candidates,
    s.ep_row,
    s.id_row
FROM situation s
LEFT JOIN e USING (ep_row)
LEFT JOIN counts c USING (ep_row)
ORDER BY s.rank, s.ep_row, s.identity_key;
