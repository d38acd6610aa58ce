-- Stage the repository: one narrow row per identity inside the repository
-- scope (identities outside it are ignored entirely, docs/semantics.md).
--   link_norm  the linked account's key, case-folded and trimmed
--   deleted    status is one of deleted_values (folded like keys)
--   attr_hash  as in stage/endpoint.sql, over the repository's side of each mapping
CREATE OR REPLACE TEMP TABLE repo AS
WITH deleted_values AS (
    SELECT coalesce(list(rd_key(v)), []) AS values FROM unnest($deleted_values::VARCHAR[]) t(v)
)
SELECT
    CAST(file_row_number AS BIGINT) + 1        AS id_row,
    {{key}}                                    AS id_key,
    rd_key({{key}})                            AS id_key_norm,
    {{link}}                                   AS link_key,
    rd_key({{link}})                           AS link_norm,
    coalesce(list_contains((SELECT values FROM deleted_values), rd_key({{status}})), false)
                                               AS deleted,
    {{attr_hash}}                              AS attr_hash
FROM read_parquet($repository_path, file_row_number = true)
WHERE ({{scope}}) IS NOT FALSE;
