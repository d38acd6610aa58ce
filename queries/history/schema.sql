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
