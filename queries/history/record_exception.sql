-- The exceptions of one harvest ($rows: recondiff/history.py record_exceptions),
-- all in one statement; one already recorded from the same plan, ledger line
-- and finding is left as it is. Times are ISO 8601 text.
INSERT OR IGNORE INTO exceptions (
    exception_id, finding_key, config_key, account, identity_key, situation, attribute,
    shown, decision, decided_by, reason, decided_at, until, source_plan, source_seq
)
WITH r AS (
    SELECT unnest($rows::STRUCT(exception_id VARCHAR, finding_key VARCHAR, account VARCHAR,
                                identity_key VARCHAR, situation VARCHAR, attribute VARCHAR,
                                shown VARCHAR, decision VARCHAR, decided_by VARCHAR,
                                reason VARCHAR, decided_at VARCHAR, until VARCHAR,
                                source_plan VARCHAR, source_seq INTEGER)[], recursive := true)
)
SELECT exception_id, finding_key, $config_key, account, identity_key, situation, attribute,
       shown, decision, decided_by, reason, CAST(decided_at AS TIMESTAMPTZ),
       CAST(until AS TIMESTAMPTZ), source_plan, source_seq
FROM r
QUALIFY row_number() OVER (PARTITION BY exception_id) = 1;
