-- Reviewer assignments harvested from a plan's decisions ledger
-- (recondiff/history.py History.record_assignments): a row already there (same
-- plan digest, ledger line and event) is kept as it is.
INSERT OR IGNORE INTO assignments (
    config_key, plan_digest, seq, event_id, endpoint_key, endpoint_uuid, identity_key,
    assigned_by, assigned_at, comment
)
SELECT $config_key, a.plan_digest, a.seq, a.event_id, a.endpoint_key, a.endpoint_uuid,
       a.identity_key, a.assigned_by, a.assigned_at, a.comment
FROM (
    SELECT unnest($rows::STRUCT(plan_digest VARCHAR, seq BIGINT, event_id VARCHAR,
                                endpoint_key VARCHAR, endpoint_uuid VARCHAR,
                                identity_key VARCHAR, assigned_by VARCHAR,
                                assigned_at TIMESTAMPTZ, comment VARCHAR)[], recursive := true)
) a;
