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
WHERE CAST(file_row_number AS BIGINT) + 1 IN (
    SELECT identity_record FROM read_parquet($situations_parquet) WHERE situation = 'missing'
)
QUALIFY row_number() OVER (PARTITION BY rd_key({{key}}) ORDER BY file_row_number DESC) = 1;
