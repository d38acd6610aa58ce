-- Identity policies 6: the repository snapshot every later step reads: the
-- original file's rows in its order, every column as it was but those the
-- policies change (and the applied list), which hold the final state (a record
-- outside [repository] scope was never evaluated and holds its own). The state
-- has a row per record: joined by position, in file order, with no hash join
-- and no sort of the wide rows.
COPY (
    SELECT r.* REPLACE ({{replace}})
    FROM read_parquet($repository_path) r
    POSITIONAL JOIN (SELECT * FROM pol_state ORDER BY __rd_row) s
) TO $derived_path (FORMAT parquet, COMPRESSION zstd);
