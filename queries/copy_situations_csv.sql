-- situations.csv: the Parquet table just written, candidates joined with ';'.
COPY (
    SELECT * REPLACE (array_to_string(candidates, ';') AS candidates)
    FROM read_parquet($situations_parquet)
) TO $path (FORMAT csv, HEADER true);
