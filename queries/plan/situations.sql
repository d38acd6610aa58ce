-- Action plan, step 2: the finished situations rows the plan acts on: those
-- whose situation has a response other than do_nothing ($decisions, decided by
-- recondiff/plan/build.py from [situations]), those listed for attention, and
-- every drifted pair. Read back from situations.parquet (already written, with
-- the key and DN as the endpoint spells them); ord is the row's place in it,
-- the order of the plan's events.
CREATE OR REPLACE TEMP TABLE plan_row AS
WITH decisions AS (
    SELECT unnest($decisions::STRUCT(situation VARCHAR, response VARCHAR, action VARCHAR,
                                     review BOOLEAN)[], recursive := true)
)
SELECT CAST(s.file_row_number AS BIGINT) AS ord, s.situation, s.sync, s.endpoint_key,
       s.endpoint_dn, s.identity_key, s.rule, s.candidates, s.endpoint_record,
       s.identity_record,
       d.response, d.action, d.review
FROM read_parquet($situations_parquet, file_row_number = true) s
LEFT JOIN decisions d USING (situation)
WHERE d.situation IS NOT NULL OR list_contains($attention::VARCHAR[], s.situation)
   OR s.sync = 'drifted';
