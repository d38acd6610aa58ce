-- Stage the repository: one row per identity inside the repository scope
-- (identities outside it are ignored entirely, docs/semantics.md).
--   link_norm  the linked account's key, case-folded and trimmed
--   deleted    status is one of deleted_values (case-insensitive)
CREATE OR REPLACE TEMP TABLE repo AS
SELECT
    CAST(file_row_number AS BIGINT) + 1        AS id_row,
    {{key}}                                    AS id_key,
    rd_key({{key}})                            AS id_key_norm,
    {{link}}                                   AS link_key,
    rd_key({{link}})                           AS link_norm,
    coalesce(list_contains(list_transform($deleted_values::VARCHAR[], lambda v: rd_key(v)), rd_key({{status}})), false)
                                               AS deleted,
    {{corr}}                                   AS corr,
    {{attr_hash}}                              AS attr_hash
FROM read_parquet($repository_path, file_row_number = true)
WHERE ({{scope}}) IS NOT FALSE;
