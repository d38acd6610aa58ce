-- This run's findings ($findings: history/run_findings.sql wrote them from the
-- staged situations table, the rows of the published situations.parquet),
-- each first seen when the previous run of the config already had it, else now.
--
-- An incremental run ($incremental: the endpoint snapshot holds only the
-- accounts changed since some time, docs/explore.md "Incremental runs") judges
-- only the accounts in it (the delta, $delta: every endpoint record of the
-- run, by folded key; history/run_delta.sql). The previous run's findings of every other account, and those
-- with no account (an identity's), were not looked at: they carry over
-- unchanged, still open, first seen when they were. A finding of an account in
-- the delta that this run does not have is resolved (not carried); a new one
-- is new.
INSERT INTO findings
WITH current AS (
    SELECT finding_key, situation, sync, endpoint_key, identity_key
    FROM read_parquet($findings)
),
previous AS (
    SELECT finding_key, min(first_seen) AS first_seen
    FROM findings WHERE run_id = $previous_run_id GROUP BY finding_key
),
delta AS (
    SELECT account FROM read_parquet($delta)
)
SELECT $run_id, c.finding_key, c.situation, c.sync, c.endpoint_key, c.identity_key,
       coalesce(p.first_seen, $finished_at)
FROM current c LEFT JOIN previous p USING (finding_key)
UNION ALL
SELECT $run_id, f.finding_key, f.situation, f.sync, f.endpoint_key, f.identity_key,
       f.first_seen
FROM findings f
WHERE $incremental AND f.run_id = $previous_run_id
  AND NOT EXISTS (SELECT 1 FROM delta d WHERE d.account = rd_key(f.endpoint_key))
  AND f.finding_key NOT IN (SELECT finding_key FROM current);
