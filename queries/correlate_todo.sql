-- Correlation, step 1: the active accounts that no in-scope identity links.
-- (The correlation steps are separate statements: DuckDB 2.0 was seen to hang
-- on the single-statement form at 10M accounts; materialising them also lets
-- the repository side be filtered by the few values actually sought.)
CREATE OR REPLACE TEMP TABLE corr_todo AS
SELECT s.ep_row, s.ep_key_norm
FROM ep_state s
ANTI JOIN link_owner l ON l.link_norm = s.ep_key_norm
WHERE s.pre_situation IS NULL;
