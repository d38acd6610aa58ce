-- Reviewer assignments (docs/plan.md, Owners): the owner a reviewer chose for
-- an account (`plan assign`, decision "assigned" in a plan's decisions ledger),
-- harvested by the next compare of the same config (one row per ledger line
-- and event: harvesting twice adds nothing). classify/assigned_links.sql links
-- them while the repository has no conflicting link.
CREATE TABLE IF NOT EXISTS assignments (
    config_key     VARCHAR NOT NULL,
    plan_digest    VARCHAR NOT NULL,
    seq            BIGINT NOT NULL,       -- the ledger line
    event_id       VARCHAR NOT NULL,
    endpoint_key   VARCHAR NOT NULL,
    endpoint_uuid  VARCHAR,               -- entryUUID/objectGUID the plan saw (NULL: not exported)
    identity_key   VARCHAR NOT NULL,
    assigned_by    VARCHAR,
    assigned_at    TIMESTAMPTZ NOT NULL,
    comment        VARCHAR,
    PRIMARY KEY (plan_digest, seq, event_id)
);
-- Settled: a later run saw the repository hold the link itself (the identity
-- system imported it); no longer linked from here (history/settle_assignments.sql).
ALTER TABLE assignments ADD COLUMN IF NOT EXISTS settled_at TIMESTAMPTZ;
