-- Action plan, step 4: what the plan needs of the missing identities whose
-- accounts it creates on the endpoint: the values of every mapped attribute
-- (without blanks and repeats) and those of the DN template's placeholders.
-- One record per folded identity key (the last, as a repeated key is an input
-- error reported before).
CREATE OR REPLACE TEMP TABLE plan_identity AS
SELECT rd_key({{key}})                                   AS identity_norm,
       {{values}}                                        AS vals,  -- rd_clean of each
       {{dn_values}}                                     AS dn_values
FROM read_parquet($repository_path, file_row_number = true)
-- on the bare file_row_number, so that the scan filters (as in drift/differences.sql)
WHERE file_row_number IN (
    SELECT identity_record - 1 FROM situations_out WHERE situation = 'missing'
)
QUALIFY row_number() OVER (PARTITION BY rd_key({{key}}) ORDER BY file_row_number DESC) = 1;
