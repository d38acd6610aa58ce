-- Identity policies 8: policies.parquet, one row per repository record in
-- file order: the applied list before and after, what the passes allocated,
-- deallocated and reallocated, what waits for the next sync, and how many
-- passes changed the identity.
COPY (
    SELECT {{key}}                                      AS identity_key,
           coalesce(CAST(__rd_oa AS VARCHAR[]), [])    AS applied_before,
           coalesce(CAST({{applied}} AS VARCHAR[]), []) AS applied,
           rd_dedupe(__rd_allocated)                   AS allocated,
           rd_dedupe(__rd_deallocated)                 AS deallocated,
           rd_dedupe(__rd_reallocated)                 AS reallocated,
           e.pending                                   AS pending,
           CAST(__rd_passes AS INTEGER)                AS passes
    FROM pol_state s JOIN pol_eval e USING (__rd_row)
    ORDER BY __rd_row
) TO $policies_path (FORMAT parquet);
