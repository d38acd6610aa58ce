-- The linked/correlated pairs whose attribute hashes differ: the only pairs
-- drift/differences.sql looks at. Materialised because drift/differences.sql filters both snapshots by it.
CREATE OR REPLACE TEMP TABLE drift_pairs AS
SELECT ep_row, id_row, identity_key, situation
FROM situation
WHERE sync = 'drifted';
