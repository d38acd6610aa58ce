-- Action plan, step 1a, run only when some [[attribute.rule]] exists: the rule
-- that decides each drift row it matches (docs/plan.md). The first rule of the
-- row's attribute (by pos) whose kind fits ('any' or the row's kind) and whose
-- glob pattern matches the value decides. Value and pattern are both
-- normalised by the attribute's compare kind; the value matched is the
-- endpoint's, or the repository's for a 'removed' row. Rows are named by their
-- rowid in the drift table. Without rules, plan/drift_no_rules.sql creates the
-- table empty: planning rd_norm (twice here) cost every run a noticeable
-- fraction of a second, whether or not any rule existed (benchmarks/NOTES.md).
CREATE OR REPLACE TEMP TABLE plan_drift_hit AS
WITH rules AS (
    SELECT unnest($rules::STRUCT(attr_idx INTEGER, pos INTEGER, pattern VARCHAR, kind VARCHAR,
                                 response VARCHAR, alert VARCHAR)[], recursive := true)
)
SELECT d.rowid AS drift_id,
       arg_min({'response': r.response, 'alert': r.alert}, r.pos) AS hit
FROM drift d
JOIN rules r ON r.attr_idx = d.attr_idx AND r.kind IN ('any', d.kind)
WHERE {{norm_value}}
      GLOB {{norm_pattern}}
GROUP BY d.rowid;
