-- Correlation, step 6 when some accounts are left `unmatched`: the accounts a
-- rule matched (corr_situation, usually few) take their situation in place.
UPDATE situation s
SET rank = c.rank, situation = c.situation, sync = c.sync, id_row = c.id_row,
    identity_key = c.identity_key, rule = c.rule, candidates = c.candidates,
    candidate_rows = c.candidate_rows
FROM corr_situation c
WHERE s.ep_row = c.ep_row;
