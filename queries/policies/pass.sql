-- Identity policies 2, one evaluation pass (seed 003, docs/policies.md) over
-- the identities the last pass changed (every identity, first), into pol_next; recondiff/engine/policies.py writes the
-- per-policy SQL of each slot (policy i, changed column j, grant g) and
-- runs up to [policies] max_recursion passes, then one more to find what waits
-- for the next sync.
--   evaluate  __rd_w<i>: the policy applies now (`when`, NULL = no);
--             __rd_in<i>: it is in the applied list (names case-insensitively)
--   lists     __rd_d<i> deallocation (applied, no longer applies),
--             __rd_l<i> allocation (applies, not applied),
--             __rd_r<i> reallocation (applies, applied, reapply = true)
--   candidates __rd_c<j>: the distinct values the allocated and reallocated
--             policies set column j to; two or more are a conflict, and the
--             policies that set them are held (__rd_h<i>): not recorded as applied
--   grants    per list column j: what a policy that still applies grants (kept),
--             what the deallocations remove (__rd_gr<j>, normalised), what the
--             allocations and reallocations add (__rd_ga<j>)
-- Deallocations first, then allocations and reallocations; set values are
-- never undone by a deallocation.
CREATE OR REPLACE TEMP TABLE pol_next AS
WITH k AS (
    SELECT $names::VARCHAR[]            AS __rd_names,
           $lower_names::VARCHAR[]      AS __rd_lower_names,
           $set_values::VARCHAR[]       AS __rd_set_values,
           $grant_values::VARCHAR[][]   AS __rd_grant_values,
           $grant_norms::VARCHAR[][]    AS __rd_grant_norms,
           $columns::VARCHAR[]          AS __rd_columns,
           CAST($pass AS INTEGER)       AS __rd_pass
),
ev AS (
    SELECT s.* EXCLUDE (__rd_pass_alloc, __rd_pass_dealloc, __rd_changed),
           k.*, {{evaluate}}
    FROM (SELECT * FROM pol_state WHERE __rd_changed) s, k
),
lists AS (
    SELECT *, {{lists}} FROM ev
),
cand AS (
    SELECT *, {{candidates}} FROM lists
),
held AS (
    SELECT *, {{held}} FROM cand
),
anyf AS (
    -- does the row deallocate, allocate, reallocate anything at all (the lists
    -- below are built only where it does)
    SELECT *, {{any}} FROM held
),
names AS (
    -- the pass's lists by name: deallocated (folded __rd_dl, as configured
    -- __rd_dn), allocated and not held (__rd_al, folded __rd_all), reallocated
    -- and not held (__rd_rl)
    SELECT *, {{names}} FROM anyf
),
grants AS (
    SELECT *, {{grant_lists}} FROM names
),
removed AS (
    SELECT *, {{grant_removed}} FROM grants
),
added AS (
    SELECT *, {{grant_added}} FROM removed
),
new AS (
    SELECT *, {{new_values}} FROM added
),
changed AS (
    SELECT *, {{changed}} AS __rd_now_changed FROM new
)
SELECT __rd_row,
       {{outputs}},
       {{original_columns}},
       __rd_allocated || __rd_al                                  AS __rd_allocated,
       __rd_deallocated || __rd_dn                                AS __rd_deallocated,
       __rd_reallocated || __rd_rl                                AS __rd_reallocated,
       __rd_conflicts || {{conflicts}}                            AS __rd_conflicts,
       __rd_passes + CASE WHEN __rd_now_changed THEN 1 ELSE 0 END AS __rd_passes,
       __rd_al                                                    AS __rd_pass_alloc,
       __rd_dn                                                    AS __rd_pass_dealloc,
       __rd_now_changed                                           AS __rd_changed
FROM changed;
