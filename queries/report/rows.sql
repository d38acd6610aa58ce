-- Report: the first $limit rows of every (situation, sync) table, in the
-- order of situations.parquet (the staged table situations_out, whose pos is
-- the row's place in the file; the DNs of the picked rows read from the
-- snapshot), each finding with the time it was first seen
-- (previous_findings: the previous run's, loaded by history/load_findings.sql; a finding
-- it does not hold is new, first seen now).
-- The rows are ranked on their position and table alone, then only the picked
-- ones are read in full: ranking every row with all its columns was six times
-- slower (benchmarks/NOTES.md).
WITH picked AS (
    SELECT pos FROM situations_out
    QUALIFY row_number() OVER (PARTITION BY rank, sync ORDER BY pos) <= $limit
),
picked_rows AS (
    SELECT * FROM situations_out WHERE pos IN (SELECT pos FROM picked)
),
r AS (
    SELECT p.*, d.endpoint_dn
    FROM picked_rows p
    LEFT JOIN (
        SELECT endpoint_record, endpoint_dn FROM endpoint_dns($endpoint_path)
        WHERE file_row_number IN (SELECT endpoint_record - 1 FROM picked_rows)
    ) d USING (endpoint_record)
),
previous AS (
    SELECT finding_key, min(first_seen) AS first_seen FROM previous_findings GROUP BY finding_key
)
-- Keys, DNs and candidates are cut as the report shows them (rd_shown).
SELECT
    r.situation, r.sync, rd_shown(r.endpoint_key) AS endpoint_key,
    rd_shown(r.endpoint_dn) AS endpoint_dn, rd_shown(r.identity_key) AS identity_key, r.rule,
    list_transform(r.candidates, lambda c: rd_shown(c)) AS candidates,
    r.drift_attributes, r.endpoint_record,
    rd_is_finding(r.situation, r.sync)                    AS is_finding,
    p.first_seen IS NULL                                  AS is_new,
    epoch_us(coalesce(p.first_seen, $now::TIMESTAMPTZ))   AS first_seen_us
FROM r
LEFT JOIN previous p
    ON p.finding_key = rd_finding(r.situation, r.sync, r.endpoint_key, r.identity_key)
ORDER BY r.pos;
