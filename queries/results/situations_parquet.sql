-- situations.parquet in its documented column order (docs/outputs.md): the
-- account's key and DN are read from the snapshot here, not kept in memory
-- through the run. Once written, it replaces the situation table for the plan
-- and the report (results/release_situation_table.sql). Sorted by situation (docs/design.md
-- order), then the record's position in the endpoint snapshot (missing
-- identities: by identity key).
-- The sort carries the situation's rank and the drift count, not the text
-- columns spelled from them (situation, sync), which are written after it:
-- a lower memory peak for the run, same time, same file. DuckDB keeps
-- the order of `sorted` through the plain projection below because the CTE is
-- inlined: keep it read once and not MATERIALIZED
-- (tests/test_situations_order.py checks the order on 220,000 rows).
-- Snappy, not zstd: the run reads this file back a dozen times (CSV, plan,
-- report, history), and snappy writes and decodes it faster, for a bigger
-- file (benchmarks/NOTES.md).
COPY (
    WITH counts AS (
        SELECT ep_row, count(DISTINCT attribute) AS n FROM drift GROUP BY ep_row
    ),
    e AS (
        SELECT CAST(file_row_number AS BIGINT) + 1 AS ep_row,
               {{key}} AS endpoint_key,
               {{dn}} AS endpoint_dn
        FROM read_parquet($endpoint_path, file_row_number = true)
    ),
    sorted AS (
        SELECT s.rank, c.n, coalesce(e.endpoint_key, s.missing_key) AS endpoint_key,
               e.endpoint_dn, s.identity_key, s.rule, s.candidates, s.ep_row, s.id_row
        FROM situation s
        LEFT JOIN e USING (ep_row)
        LEFT JOIN counts c USING (ep_row)
        ORDER BY s.rank, s.ep_row, s.identity_key
    )
    SELECT
        -- rank is the situation's place in rd_situations() (classify/situations.sql, which
        -- classify/vanished.sql and classify/missing_expected.sql follow)
        rd_situations()[rank] AS situation,
        CASE WHEN rank IN (rd_rank('linked'), rd_rank('correlated')) THEN
            CASE WHEN coalesce(n, 0) > 0 THEN 'drifted' ELSE 'in_sync' END
        END AS sync,
        endpoint_key,
        endpoint_dn,
        identity_key,
        rule,
        candidates,
        CASE WHEN rank IN (rd_rank('linked'), rd_rank('correlated')) THEN coalesce(n, 0)
        END AS drift_attributes,
        ep_row AS endpoint_record,
        id_row AS identity_record
    FROM sorted
) TO $path (FORMAT parquet, COMPRESSION snappy);
