-- The outputs are written and the history's rows of this run are made
-- (history/run_findings.sql, record_owners.sql) and so are the report's
-- segments: what the plan and the report still read of the staged table is
-- every row but the linked accounts in sync (the rows of situations.csv), the
-- first $rows_per_table of those (the report's table of them), and all of
-- them when [situations] linked acts ($keep_all: unlink, each a plan event).
-- Those rows are kept, with their place in situations.parquet (pos) and the
-- situation and sync spelled; the staged table (one row per record) is
-- dropped before the plan, whose events are the run's memory peak. The
-- first rows by LIMIT on a plain scan of one view: in its order.
CREATE OR REPLACE TEMP TABLE situations_kept AS
SELECT * FROM situations_out
WHERE $keep_all
   OR rank <> rd_rank('linked')
   OR drift_attributes > 0
   OR pos IN (
       SELECT pos FROM situations_out
       WHERE rank = rd_rank('linked') AND drift_attributes = 0
       LIMIT $rows_per_table
   );
