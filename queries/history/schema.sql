-- The run history (recondiff/history.py): one embedded DuckDB file, by default
-- OUTDIR/history.duckdb. Every finished compare adds its run, the keys of its
-- findings (with the time each was first seen). The identity -> account
-- ownerships it saw live in a Parquet file beside it (history/record_owners.sql).
CREATE TABLE IF NOT EXISTS runs (
    run_id       VARCHAR PRIMARY KEY,
    config_key   VARCHAR NOT NULL,     -- endpoint name + repository name: "the same config"
    config_path  VARCHAR NOT NULL,
    outdir       VARCHAR NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ NOT NULL,
    summary      VARCHAR NOT NULL      -- summary.json of the run
);
CREATE TABLE IF NOT EXISTS findings (
    run_id        VARCHAR NOT NULL,
    finding_key   VARCHAR NOT NULL,
    situation     VARCHAR NOT NULL,
    sync          VARCHAR,
    endpoint_key  VARCHAR,
    identity_key  VARCHAR,
    first_seen    TIMESTAMPTZ NOT NULL
);
-- Persistent decisions (docs/plan.md, "Decisions that persist"): a reviewer's
-- accept or reject of a plan's event, one row per finding the event came from
-- (recondiff/history.py record_exceptions, harvested from the plan's decisions
-- ledger). The next compare of the same config proposes nothing for a finding
-- with an active exception: not revoked, until in the future or none. Revoking
-- is recorded, never a delete. One row per (plan digest, ledger seq, finding):
-- harvesting a ledger twice adds nothing.
CREATE TABLE IF NOT EXISTS exceptions (
    exception_id  VARCHAR PRIMARY KEY,   -- 'ex-' + hash of the source and the finding
    finding_key   VARCHAR NOT NULL,      -- macros/situations.sql rd_finding_key
    config_key    VARCHAR NOT NULL,      -- the config of the run that wrote the plan
    account       VARCHAR,               -- for the reader: the account (or identity) key,
    identity_key  VARCHAR,
    situation     VARCHAR NOT NULL,
    attribute     VARCHAR,               -- NULL: the account itself
    shown         VARCHAR NOT NULL,      -- JSON: the values (or the event) the reviewer saw
    decision      VARCHAR NOT NULL CHECK (decision IN ('accepted', 'rejected')),
    decided_by    VARCHAR NOT NULL,
    reason        VARCHAR,
    decided_at    TIMESTAMPTZ NOT NULL,
    until         TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ,
    revoked_by    VARCHAR,
    revoke_reason VARCHAR,
    source_plan   VARCHAR NOT NULL,      -- the plan's digest
    source_seq    INTEGER NOT NULL,      -- the ledger line's seq
    UNIQUE (source_plan, source_seq, finding_key)
);
