COPY (SELECT * FROM drift_out) TO $path (FORMAT parquet, COMPRESSION zstd);
