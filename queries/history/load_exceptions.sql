-- The exceptions of this config active at the run's clock (history/active_exceptions.sql
-- wrote them), for the plan to propose nothing for what they accept
-- (plan/accepted.sql). One row per finding key: the latest decision.
CREATE OR REPLACE TEMP TABLE plan_exception AS
SELECT * FROM read_parquet($path)
QUALIFY row_number() OVER (PARTITION BY finding_key ORDER BY decided_at DESC, exception_id) = 1;
