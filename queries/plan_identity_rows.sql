-- Action plan, step 4a: the repository records plan_identities.sql reads (the
-- missing identities), as a bitstring in the connection variable
-- rd_plan_identity_rows (bit i set = record i + 1). Tested with get_bit, it
-- filters inside the Parquet scan, as in drift_rows.sql: plan_identities at
-- 1M on saved state 0.30 -> 0.22 s wall.
SET VARIABLE rd_plan_identity_rows = (
    SELECT bitstring_agg(identity_record, 1, greatest($repository_rows, 1))
    FROM read_parquet($situations_parquet)
    WHERE situation = 'missing'
);
