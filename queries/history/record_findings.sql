-- This run's findings (rd_is_finding), each first seen when the previous run
-- of the config already had it, else now.
INSERT INTO findings
WITH current AS (
    SELECT rd_finding(situation, sync, endpoint_key, identity_key) AS finding_key,
           situation, sync, endpoint_key, identity_key
    FROM read_parquet($situations_parquet)
    WHERE rd_is_finding(situation, sync)
),
previous AS (
    SELECT finding_key, min(first_seen) AS first_seen
    FROM findings WHERE run_id = $previous_run_id GROUP BY finding_key
)
SELECT $run_id, c.finding_key, c.situation, c.sync, c.endpoint_key, c.identity_key,
       coalesce(p.first_seen, $finished_at)
FROM current c LEFT JOIN previous p USING (finding_key);
