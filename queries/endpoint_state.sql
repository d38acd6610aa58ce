-- excluded and duplicate_key, the first two situations by precedence.
--   excluded       out of scope, or protected
--   duplicate_key  two or more non-excluded records share the key
-- Every other record with a key is "active": linked, correlated or unmatched next.
CREATE OR REPLACE TEMP TABLE ep_state AS
WITH dup AS (
    SELECT ep_key_norm
    FROM ep
    WHERE ep_key_norm IS NOT NULL AND in_scope AND NOT protected
    GROUP BY ep_key_norm
    HAVING count(*) > 1
)
SELECT
    ep.ep_row,
    CASE
        WHEN NOT ep.in_scope THEN 'excluded'
        WHEN ep.protected THEN 'excluded'
        WHEN dup.ep_key_norm IS NOT NULL THEN 'duplicate_key'
    END AS pre_situation,
    CASE WHEN NOT ep.in_scope THEN 'scope' WHEN ep.protected THEN 'protected' END AS pre_rule
FROM ep
LEFT JOIN dup USING (ep_key_norm)
WHERE ep.ep_key_norm IS NOT NULL;
