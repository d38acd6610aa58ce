-- do_nothing.csv (docs/outputs.md): the do-nothing cases, the findings the plan
-- reports and proposes nothing for (OpenIAM's "Do nothing" report), for a
-- reviewer: every row of a situation whose response is do_nothing ($situations:
-- those of [situations], but linked, whose drift is answered attribute by
-- attribute, and excluded, which is out of scope on purpose), and every drift
-- row whose response is do_nothing (its on_drift or rule, or identity policies
-- in conflict: plan/policy_holds.sql). Run after the plan's events, from
-- situations_out (the kept rows: every row but the linked accounts in sync)
-- and plan_drift_row (plan/drift.sql; an accepted row is gone:
-- plan/suppress.sql). Text cells neutralised against spreadsheet formulas
-- (rd_csv), as in the other CSVs. In situations.parquet's order, a row's
-- drift by the plan's order.
COPY (
    SELECT
        rd_csv(endpoint_key)     AS endpoint_key,
        rd_csv(identity_key)     AS identity_key,
        situation,
        rd_csv(attribute)        AS attribute,
        kind,
        rd_csv(endpoint_value)   AS endpoint_value,
        rd_csv(repository_value) AS repository_value,
        why
    FROM (
        SELECT s.pos, 0 AS drift_pos, s.endpoint_key, s.identity_key, s.situation,
               NULL AS attribute, NULL AS kind, NULL AS endpoint_value,
               NULL AS repository_value,
               'situation ' || s.situation || ': response do_nothing' AS why
        FROM situations_out s
        WHERE s.situation IN (SELECT unnest($situations::VARCHAR[]))
        UNION ALL
        SELECT s.pos, d.pos, s.endpoint_key, s.identity_key, s.situation,
               d.attribute, d.kind, d.endpoint_value, d.repository_value,
               'drift of ' || d.attribute || ': response do_nothing'
        FROM plan_drift_row d
        JOIN situations_out s ON s.endpoint_record = d.ep_row
        WHERE d.response = 'do_nothing'
    )
    ORDER BY pos, drift_pos
) TO $path (FORMAT csv, HEADER true);
