-- Stage the endpoint: one row per account record.
-- Decides nothing yet; computes what every later step needs:
--   ep_key_norm  the key, case-folded and trimmed (NULL = blank key, skipped)
--   in_scope     the scope predicate; only FALSE puts a record out of scope
--   protected    key listed in [endpoint] protected
--   corr         per correlation rule (in order), the normalised values (a list)
--   attr_hash    hash of every mapped attribute, normalised; equal hashes on
--                both sides mean "in sync" without looking at attributes
CREATE OR REPLACE TEMP TABLE ep AS
SELECT
    CAST(file_row_number AS BIGINT) + 1        AS ep_row,
    {{key}}                                    AS ep_key,
    rd_key({{key}})                            AS ep_key_norm,
    {{dn}}                                     AS ep_dn,
    ({{scope}}) IS NOT FALSE                   AS in_scope,
    list_contains(list_transform($protected::VARCHAR[], lambda p: rd_key(p)), rd_key({{key}})) AS protected,
    {{corr}}                                   AS corr,
    {{attr_hash}}                              AS attr_hash
FROM read_parquet($endpoint_path, file_row_number = true);
