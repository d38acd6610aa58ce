-- Action plan, step 2: the finished situations rows the plan acts on: those
-- whose situation has a response other than do_nothing ($decisions, decided by
-- recondiff/plan/build.py from [situations]), those listed for attention, and
-- every drifted pair. From the staged situations table (situations_out,
-- results/release_situation_table.sql: the rows of situations.parquet, with
-- the key as the endpoint spells it); the DN is read from the snapshot for
-- these rows only (endpoint_dns). ord is the row's place in situations.parquet,
-- the order of the plan's events.
CREATE OR REPLACE TEMP TABLE plan_row AS
WITH decisions AS (
    SELECT *, rd_rank(situation) AS rank
    FROM (SELECT unnest($decisions::STRUCT(situation VARCHAR, response VARCHAR, action VARCHAR,
                                           review BOOLEAN)[], recursive := true))
),
attention AS (
    SELECT rd_rank(unnest($attention::VARCHAR[])) AS rank
),
picked AS (
    SELECT s.pos AS ord, s.situation, s.sync, s.endpoint_key, s.identity_key, s.rule,
           s.candidates, s.endpoint_record, s.identity_record,
           d.response, d.action, d.review
    FROM situations_out s
    LEFT JOIN decisions d USING (rank)
    WHERE d.rank IS NOT NULL OR s.rank IN (SELECT rank FROM attention)
       OR s.drift_attributes > 0
),
dns AS (
    SELECT endpoint_record, endpoint_dn FROM endpoint_dns($endpoint_path)
    WHERE file_row_number IN (SELECT endpoint_record - 1 FROM picked)
)
SELECT CAST(p.ord AS BIGINT) AS ord, p.situation, p.sync, p.endpoint_key, d.endpoint_dn,
       p.identity_key, p.rule, p.candidates, p.endpoint_record, p.identity_record,
       p.response, p.action, p.review
FROM picked p
LEFT JOIN dns d USING (endpoint_record);
