-- Explores (recondiff/explore/, docs/explore.md "Incremental runs"): one row per
-- successful read of a live source, by `recondiff explore` (once the snapshot is
-- written) or by compare (once its results are published: a compare that failed
-- after exploring never moves the mark, so its changes are read again). The next
-- `--since-last` of the same source reads the entries changed since the newest
-- row's high-water mark. No password or bind DN is kept.
CREATE TABLE IF NOT EXISTS explores (
    source_key        VARCHAR NOT NULL,     -- sha256 of kind, URL, base, scope and filter
    source            VARCHAR NOT NULL,     -- URL, base and filter, for the reader
    explored_at       TIMESTAMPTZ NOT NULL, -- when the read started (this machine's clock)
    read_seconds      DOUBLE NOT NULL,      -- how long the read took
    change_attribute  VARCHAR NOT NULL,     -- modifyTimestamp, or uSNChanged (AD)
    high_water        VARCHAR,              -- the largest value seen (NULL: none yet)
    delta             BOOLEAN NOT NULL,     -- the read was incremental
    since             VARCHAR,              -- its lower bound (delta only)
    entries           BIGINT NOT NULL,
    snapshot          VARCHAR NOT NULL
);
