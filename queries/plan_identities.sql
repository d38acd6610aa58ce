-- Action plan, step 4: the whole repository record of the missing identities,
-- whose accounts the plan creates on the endpoint (its DN template and
-- attributes come from them).
SELECT {{key}} AS rd_identity_key, * EXCLUDE (file_row_number)
FROM read_parquet($repository_path, file_row_number = true)
WHERE CAST(file_row_number AS BIGINT) + 1 IN (
    SELECT id_row FROM situation WHERE situation = 'missing'
);
