-- situations.csv: the Parquet table just written, candidates joined with ';',
-- every text cell neutralised against spreadsheet formulas (rd_csv), in the
-- Parquet file's order. The ORDER BY is needed: DuckDB writes a CSV from
-- several threads in the order they finish, whatever the source's order (a
-- 1M run had its rows out of order from the first 2,048; the sort costs
-- about 0.2 s at 1M).
COPY (
    SELECT
        situation,
        sync,
        rd_csv(endpoint_key)                        AS endpoint_key,
        rd_csv(endpoint_dn)                         AS endpoint_dn,
        rd_csv(identity_key)                        AS identity_key,
        rd_csv(rule)                                AS rule,
        rd_csv(array_to_string(candidates, ';'))    AS candidates,
        drift_attributes,
        endpoint_record
    FROM read_parquet($situations_parquet, file_row_number = true)
    ORDER BY file_row_number
) TO $path (FORMAT csv, HEADER true);
