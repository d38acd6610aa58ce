-- drift.csv: drift_out with every text cell neutralised against spreadsheet
-- formulas (rd_csv); the Parquet copy keeps the values as they are.
COPY (
    SELECT
        rd_csv(endpoint_key)        AS endpoint_key,
        rd_csv(identity_key)        AS identity_key,
        situation,
        rd_csv(attribute)           AS attribute,
        rd_csv(repository_attribute) AS repository_attribute,
        compare,
        kind,
        rd_csv(endpoint_value)      AS endpoint_value,
        rd_csv(repository_value)    AS repository_value
    FROM drift_out
) TO $path (FORMAT csv, HEADER true);
