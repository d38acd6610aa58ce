-- Identity policies 8: policies.parquet, one row per repository record in
-- file order: the applied list before and after, what the passes allocated,
-- deallocated and reallocated, what waits for the next sync, and how many
-- passes changed the identity.
COPY (
    SELECT {{key}}                                      AS identity_key,
           coalesce(CAST(__rd_oa AS VARCHAR[]), [])    AS applied_before,
           coalesce(CAST({{applied}} AS VARCHAR[]), []) AS applied,
           CASE WHEN len(__rd_allocated) > 0 THEN rd_dedupe(__rd_allocated) ELSE [] END AS allocated,
           CASE WHEN len(__rd_deallocated) > 0 THEN rd_dedupe(__rd_deallocated) ELSE [] END AS deallocated,
           CASE WHEN len(__rd_reallocated) > 0 THEN rd_dedupe(__rd_reallocated) ELSE [] END AS reallocated,
           coalesce(e.__rd_pending, [])                AS pending,
           CAST(__rd_passes AS INTEGER)                AS passes
    FROM pol_state s LEFT JOIN pol_eval e USING (__rd_row)
    ORDER BY __rd_row
) TO $policies_path (FORMAT parquet);
