-- Action plan, step 4: the whole repository record of the identities whose
-- account the plan creates on the endpoint (its DN template and attributes
-- come from them), found by key as the situations table spells it.
SELECT {{key}} AS rd_identity_key, *
FROM read_parquet($repository_path)
WHERE rd_key({{key}}) IN (SELECT rd_key(k) FROM unnest($keys::VARCHAR[]) t(k));
