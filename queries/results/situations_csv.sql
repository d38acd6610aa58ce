-- situations.csv: the Parquet table just written but its linked accounts in
-- sync, i.e. the findings and the excluded accounts (docs/outputs.md;
-- situations.parquet keeps every record, and summary.json's
-- outputs.situations_csv counts the rows left out), candidates joined with
-- ';', every text cell neutralised against spreadsheet formulas (rd_csv), in
-- the Parquet file's order. DuckDB keeps that order while writing in
-- parallel only when the query has no join (EXPLAIN shows "Batch Copy To
-- File"; a filter keeps it); an IN list is a join, hence rd_csv's spelling
-- and the plain comparisons of the WHERE. Sorting here instead costs seconds
-- at 10M. tests/test_csv_outputs.py checks the order on 250,000 rows,
-- tests/test_findings_csv.py the filter, the plan and the order.
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
        endpoint_record,
        identity_record
    FROM read_parquet($situations_parquet)
    WHERE situation <> 'linked' OR sync IS DISTINCT FROM 'in_sync'
) TO $path (FORMAT csv, HEADER true);
