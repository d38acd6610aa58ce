-- Identity policies 5b: max_recursion passes all changed something; one more
-- evaluation (pol_next, never applied) says which policies apply to the final
-- state and which the next sync would allocate or deallocate (pending).
CREATE OR REPLACE TEMP TABLE pol_eval AS
SELECT __rd_row, __rd_pass_applies AS applies,
       rd_dedupe(__rd_pass_alloc || __rd_pass_dealloc) AS pending
FROM pol_next;
DROP TABLE pol_next;
