-- Correlation, step 1: the active accounts that no in-scope identity links
-- (classify/situations.sql left them `unmatched`), with their key and hash.
-- (The correlation steps are separate statements: DuckDB 2.0 was seen to hang
-- on the single-statement form at 10M accounts; materialising them also lets
-- the repository side be filtered by the few values actually sought.)
CREATE OR REPLACE TEMP TABLE corr_todo AS
SELECT e.ep_row, e.ep_key_norm, e.attr_hash
FROM ep e
SEMI JOIN (SELECT ep_row FROM situation WHERE situation = 'unmatched') s
    ON s.ep_row = e.ep_row;
