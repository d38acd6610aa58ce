COPY (SELECT * FROM situations_out) TO $path (FORMAT parquet, COMPRESSION zstd);
