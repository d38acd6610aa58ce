-- Stage the endpoint: one narrow row per account record, kept in memory for
-- the steps that follow (the wide attributes stay in the Parquet file and are
-- read again only for the few records that need them).
--   ep_key_norm  the key, case-folded and trimmed (NULL = blank key, skipped)
--   excluded_by  'scope' when the scope predicate is FALSE, 'protected' when the
--                key is listed in [endpoint] protected, else NULL
--   attr_hash    one hash over every mapped attribute; equal hashes on both
--                sides mean "in sync" without looking at any attribute. Dates,
--                numbers and flags enter it normalised; text, DN and set kinds
--                nearly raw (recondiff/engine/slots.py, hashed): equal raw values
--                are equal normalised values, and a pair whose spellings differ
--                is settled exactly by drift/differences.sql.
CREATE OR REPLACE TEMP TABLE ep AS
WITH protected AS (
    SELECT coalesce(list(rd_key(p)), []) AS keys FROM unnest($protected::VARCHAR[]) t(p)
)
SELECT
    CAST(file_row_number AS BIGINT) + 1        AS ep_row,
    rd_key({{key}})                            AS ep_key_norm,
    CASE
        WHEN ({{scope}}) IS FALSE THEN 'scope'
        WHEN list_contains((SELECT keys FROM protected), rd_key({{key}})) THEN 'protected'
    END                                        AS excluded_by,
    {{attr_hash}}                              AS attr_hash
FROM read_parquet($endpoint_path, file_row_number = true);
