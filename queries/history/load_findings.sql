-- The previous run's findings (history/previous_findings.sql wrote them), for
-- the report's new / resolved / persisting split and the findings' age.
CREATE OR REPLACE TEMP TABLE previous_findings AS
SELECT * FROM read_parquet($path);
