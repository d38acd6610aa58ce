-- The findings of one run, with the time each was first seen.
SELECT finding_key, situation, sync, endpoint_key, identity_key, first_seen
FROM findings WHERE run_id = $run_id;
