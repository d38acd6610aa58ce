-- Correlation, step 5: the situation of each account a correlation rule
-- matched (ep_corr), as classify/situations.sql would have given it:
--   unique hit: deleted_in_repository, collision or correlated (with sync)
--   several:    ambiguous, the candidates' keys sorted
-- in the columns of `situation`; classify/correlated_update.sql or
-- classify/correlated_rewrite.sql puts them in (recondiff/engine/classify.py).
CREATE OR REPLACE TEMP TABLE corr_situation AS
WITH corr_candidates AS (
    SELECT c.ep_row, list_sort(list(r.id_key)) AS keys, list(r.id_row) AS rows
    FROM (SELECT ep_row, unnest(candidate_rows) AS id_row FROM ep_corr) c
    JOIN repo r USING (id_row)
    GROUP BY c.ep_row
),
decided AS (
    SELECT
        c.ep_row,
        CASE
            WHEN c.unique_row IS NOT NULL THEN
                CASE WHEN c.deleted THEN 'deleted_in_repository'
                     WHEN c.collides THEN 'collision'
                     ELSE 'correlated' END
            WHEN c.candidate_rows IS NOT NULL THEN 'ambiguous'
            ELSE 'unmatched'
        END AS situation,
        c.unique_row AS id_row,
        c.unique_key AS identity_key,
        list_extract($rule_names::VARCHAR[], c.rule_idx) AS rule,
        CASE
            WHEN c.unique_row IS NOT NULL AND NOT c.deleted AND c.collides THEN [c.unique_key]
            WHEN c.unique_row IS NULL THEN cc.keys
        END AS candidates,
        CASE WHEN c.unique_row IS NULL THEN cc.rows END AS candidate_rows,
        t.attr_hash IS NOT DISTINCT FROM c.unique_hash AS hashes_equal
    FROM ep_corr c
    JOIN corr_todo t USING (ep_row)
    LEFT JOIN corr_candidates cc USING (ep_row)
)
SELECT
    rd_rank(situation) AS rank,
    situation,
    CASE WHEN situation = 'correlated' THEN
        CASE WHEN hashes_equal THEN 'in_sync' ELSE 'drifted' END
    END AS sync,
    ep_row, id_row, identity_key, rule, candidates, candidate_rows
FROM decided;
