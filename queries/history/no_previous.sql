-- The first run of a config: no previous findings (the shape of
-- history/previous_findings.sql, empty).
CREATE OR REPLACE TEMP TABLE previous_findings (
    finding_key   VARCHAR,
    situation     VARCHAR,
    sync          VARCHAR,
    endpoint_key  VARCHAR,
    identity_key  VARCHAR,
    first_seen    TIMESTAMPTZ
);
