-- Identity policies 6: the repository snapshot every later step reads: the
-- original file's rows in its order, every column as it was but those the
-- policies change (and the applied list), which hold the final state (a record
-- outside [repository] scope has no state row and stays as it was).
COPY (
    SELECT r.* EXCLUDE (file_row_number) REPLACE ({{replace}})
    FROM read_parquet($repository_path, file_row_number = true) r
    LEFT JOIN pol_state s ON s.__rd_row = r.file_row_number
    ORDER BY r.file_row_number
) TO $derived_path (FORMAT parquet, COMPRESSION zstd);
