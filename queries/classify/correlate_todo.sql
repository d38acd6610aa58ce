-- Correlation, step 1: the active accounts that no in-scope identity links.
-- (The correlation steps are separate statements: DuckDB 2.0 was seen to hang
-- on the single-statement form at 10M accounts; materialising them also lets
-- the repository side be filtered by the few values actually sought.)
CREATE OR REPLACE TEMP TABLE corr_todo AS
SELECT ep_row, ep_key_norm
FROM ep_linked
WHERE ep_row IS NOT NULL AND pre_situation IS NULL AND link_norm IS NULL;
