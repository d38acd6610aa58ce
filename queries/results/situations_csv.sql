-- situations.csv: situations.parquet's rows but its linked accounts in sync,
-- i.e. the findings and the excluded accounts (docs/outputs.md;
-- situations.parquet keeps every record, and summary.json's
-- outputs.situations_csv counts the rows left out), from the staged table
-- (results/situations_staged.sql) in its order, candidates joined with ';',
-- every text cell neutralised against spreadsheet formulas (rd_csv). DuckDB
-- keeps that order while writing in parallel only when the query has no join
-- (EXPLAIN shows "Batch Copy To File"; a filter keeps it), hence the plain
-- comparisons of the WHERE (a linked account is in sync when its drift count n
-- is NULL or 0). Sorting here instead costs seconds at 10M.
-- tests/test_csv_outputs.py checks the order on 250,000 rows,
-- tests/test_findings_csv.py the filter, the plan and the order.
COPY (
    SELECT
        rd_situations()[rank]                       AS situation,
        rd_out_sync(rank, n)                        AS sync,
        rd_csv(endpoint_key)                        AS endpoint_key,
        rd_csv(endpoint_dn)                         AS endpoint_dn,
        rd_csv(identity_key)                        AS identity_key,
        rd_csv(rule)                                AS rule,
        rd_csv(array_to_string(candidates, ';'))    AS candidates,
        rd_out_drift(rank, n)                       AS drift_attributes,
        ep_row                                      AS endpoint_record,
        id_row                                      AS identity_record
    FROM situations_staged
    WHERE rank <> rd_rank('linked') OR n > 0
) TO $path (FORMAT csv, HEADER true);
