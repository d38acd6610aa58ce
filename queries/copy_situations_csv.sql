-- situations.csv: the Parquet table just written, candidates joined with ';',
-- every text cell neutralised against spreadsheet formulas (rd_csv).
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
    FROM read_parquet($situations_parquet)
) TO $path (FORMAT csv, HEADER true);
