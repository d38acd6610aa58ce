-- Identity policies 5a: the evaluation pass changed nothing, so its lists
-- (held in pol_state since the swap) are the final state's: which policies
-- apply to each identity, and nothing waits for the next sync.
CREATE OR REPLACE TEMP TABLE pol_eval AS
SELECT __rd_row, __rd_pass_applies AS applies, CAST([] AS VARCHAR[]) AS pending
FROM pol_state;
