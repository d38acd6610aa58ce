-- Identity policies 5b: max_recursion passes all changed something; one more
-- pass (pol_next, never applied) over the identities the last one changed says
-- which policies the next sync would allocate or deallocate: pending.
CREATE OR REPLACE TEMP TABLE pol_eval AS
SELECT __rd_row, rd_dedupe(__rd_pass_alloc || __rd_pass_dealloc) AS __rd_pending
FROM pol_next
WHERE len(__rd_pass_alloc) + len(__rd_pass_dealloc) > 0;
DROP TABLE pol_next;
