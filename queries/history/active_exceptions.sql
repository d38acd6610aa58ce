-- The exceptions of config $config_key active at $now (not revoked; until in
-- the future or none), written to a Parquet file that compare's connection
-- loads (history/load_exceptions.sql). Times as ISO 8601 text, UTC.
COPY (
    SELECT exception_id, finding_key, decision, decided_by, reason,
           strftime(decided_at, '%Y-%m-%dT%H:%M:%S+00:00') AS decided_at,
           strftime(until, '%Y-%m-%dT%H:%M:%S+00:00') AS until
    FROM exceptions
    WHERE config_key = $config_key AND revoked_at IS NULL
      AND (until IS NULL OR until > $now)
) TO $path (FORMAT parquet);
