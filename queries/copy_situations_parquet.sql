-- situations.parquet in its documented column order (docs/outputs.md): the
-- account's key and DN are read from the snapshot here, not kept in memory
-- through the run. Once written, it replaces the situation table for the plan
-- and the report (release_situation_table.sql). Sorted by situation (DESIGN.md order), then the record's
-- position in the endpoint snapshot (missing identities: by identity key).
COPY (
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
        s.situation,
        CASE WHEN s.situation IN ('linked', 'correlated') THEN
            CASE WHEN coalesce(c.n, 0) > 0 THEN 'drifted' ELSE 'in_sync' END
        END AS sync,
        coalesce(e.endpoint_key, s.missing_key) AS endpoint_key,
        e.endpoint_dn,
        s.identity_key,
        s.rule,
        s.candidates,
        CASE WHEN s.situation IN ('linked', 'correlated') THEN coalesce(c.n, 0) END
            AS drift_attributes,
        s.ep_row AS endpoint_record,
        s.id_row AS identity_record
    FROM situation s
    LEFT JOIN e USING (ep_row)
    LEFT JOIN counts c USING (ep_row)
    ORDER BY s.rank, s.ep_row, s.identity_key
) TO $path (FORMAT parquet, COMPRESSION zstd);
