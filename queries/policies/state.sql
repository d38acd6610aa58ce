-- Identity policies 1 (docs/policies.md): the state the policies work on, one
-- row per repository record inside [repository] scope (the identities the run
-- reconciles; the scope reads no column a policy changes), in file order
-- (__rd_row): the key, the applied
-- list, the columns the policies change and those their `when` and `set_sql`
-- read, each changed column's value before any policy (__rd_o<j>, __rd_oa for
-- the applied list), the applied names folded (__rd_a), and what the passes
-- add up: the policies allocated, deallocated and reallocated, the conflicts,
-- the passes that changed the row, and the last pass's evaluation
-- (__rd_pass_*). __rd_changed marks the rows the next pass reads: all, first.
CREATE OR REPLACE TEMP TABLE pol_state AS
SELECT CAST(file_row_number AS BIGINT)                       AS __rd_row,
       {{columns}},
       {{originals}},
       list_transform(coalesce(CAST({{applied}} AS VARCHAR[]), []),
                      lambda x: lower(trim(x)))              AS __rd_a,
       CAST([] AS VARCHAR[])                                 AS __rd_allocated,
       CAST([] AS VARCHAR[])                                 AS __rd_deallocated,
       CAST([] AS VARCHAR[])                                 AS __rd_reallocated,
       CAST([] AS STRUCT(attribute VARCHAR, policies VARCHAR[], "values" VARCHAR[],
                         pass INTEGER)[])                    AS __rd_conflicts,
       0                                                     AS __rd_passes,
       CAST([] AS VARCHAR[])                                 AS __rd_pass_alloc,
       CAST([] AS VARCHAR[])                                 AS __rd_pass_dealloc,
       true                                                  AS __rd_changed
FROM read_parquet($repository_path, file_row_number = true)
WHERE ({{scope}}) IS NOT FALSE;
