-- excluded and duplicate_key, the first two situations by precedence.
--   excluded       out of scope, or protected (stage/endpoint.sql)
--   duplicate_key  two or more non-excluded records share the key
-- Every other record with a key is "active": linked, correlated or unmatched next.
-- Records with a blank key stay here with pre_situation 'blank_key' (skipped, counted).
-- ep_dup holds the (few) repeated keys; ep_state is a view over ep and ep_dup,
-- not a copy of the staged endpoint: each reader scans ep once, no 1M-row
-- table is written (benchmarks/NOTES.md, classify engineer).
CREATE OR REPLACE TEMP TABLE ep_dup AS
SELECT ep_key_norm
FROM ep
WHERE ep_key_norm IS NOT NULL AND excluded_by IS NULL
GROUP BY ep_key_norm
HAVING count(*) > 1;

CREATE OR REPLACE TEMP VIEW ep_state AS
SELECT
    ep.ep_row,
    ep.ep_key_norm,
    ep.attr_hash,
    CASE
        WHEN ep.ep_key_norm IS NULL THEN 'blank_key'
        WHEN ep.excluded_by IS NOT NULL THEN 'excluded'
        WHEN dup.ep_key_norm IS NOT NULL THEN 'duplicate_key'
    END AS pre_situation,
    ep.excluded_by AS pre_rule
FROM ep
LEFT JOIN ep_dup dup USING (ep_key_norm);
