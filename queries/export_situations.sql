-- The situations table in its documented column order (docs/outputs.md),
-- sorted by situation (DESIGN.md order), endpoint key, identity key.
CREATE OR REPLACE TEMP VIEW situations_out AS
WITH counts AS (
    SELECT ep_row, count(DISTINCT attribute) AS n FROM drift GROUP BY ep_row
)
SELECT
    s.situation,
    CASE WHEN s.situation IN ('linked', 'correlated') THEN
        CASE WHEN coalesce(c.n, 0) > 0 THEN 'drifted' ELSE 'in_sync' END
    END AS sync,
    s.ep_key AS endpoint_key,
    s.ep_dn AS endpoint_dn,
    s.identity_key,
    s.rule,
    s.candidates,
    CASE WHEN s.situation IN ('linked', 'correlated') THEN coalesce(c.n, 0) END AS drift_attributes,
    s.ep_row AS endpoint_record
FROM situation s
LEFT JOIN counts c USING (ep_row)
ORDER BY
    list_position(
        ['linked', 'correlated', 'collision', 'ambiguous', 'unmatched', 'missing',
         'deleted_in_repository', 'excluded', 'duplicate_key'],
        s.situation),
    lower(s.ep_key), s.ep_key, s.identity_key, s.ep_row;
