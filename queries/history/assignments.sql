-- One config's reviewer assignments not yet settled, written to a Parquet file that compare's
-- own connection reads (classify/assigned_links.sql picks the latest per
-- account and per identity).
COPY (
    SELECT endpoint_key, endpoint_uuid, identity_key, assigned_at
    FROM assignments WHERE config_key = $config_key AND settled_at IS NULL
) TO $path (FORMAT parquet);
