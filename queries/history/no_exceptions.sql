-- No active exception for this config (no history yet, or none recorded): the
-- shape of history/active_exceptions.sql, empty.
CREATE OR REPLACE TEMP TABLE plan_exception (
    exception_id  VARCHAR,
    finding_key   VARCHAR,
    decision      VARCHAR,
    decided_by    VARCHAR,
    reason        VARCHAR,
    decided_at    VARCHAR,
    until         VARCHAR
);
