-- Correlation, step 6 when a rule matched every account classify/situations.sql
-- left `unmatched`: the situation table written again with their situations
-- (corr_situation), not updated in place. A table's statistics remember every
-- value it ever held, and the NULLs of those rows would make
-- situations.parquet declare a column nullable that holds no NULL (DuckDB
-- writes a column with no NULL as required; tests/test_classify_steps.py).
-- With one account left unmatched its row holds those same NULLs, and
-- classify/correlated_update.sql updates the few rows in place.
CREATE OR REPLACE TEMP TABLE situation AS
SELECT
    CASE WHEN c.ep_row IS NULL THEN s.rank ELSE c.rank END AS rank,
    CASE WHEN c.ep_row IS NULL THEN s.situation ELSE c.situation END AS situation,
    CASE WHEN c.ep_row IS NULL THEN s.sync ELSE c.sync END AS sync,
    s.ep_row,
    s.missing_key,
    CASE WHEN c.ep_row IS NULL THEN s.id_row ELSE c.id_row END AS id_row,
    CASE WHEN c.ep_row IS NULL THEN s.identity_key ELSE c.identity_key END AS identity_key,
    CASE WHEN c.ep_row IS NULL THEN s.rule ELSE c.rule END AS rule,
    CASE WHEN c.ep_row IS NULL THEN s.candidates ELSE c.candidates END AS candidates,
    CASE WHEN c.ep_row IS NULL THEN s.candidate_rows ELSE c.candidate_rows END
        AS candidate_rows
FROM situation s
LEFT JOIN corr_situation c ON c.ep_row = s.ep_row;
