-- Identity policies 5a: a pass changed nothing: every identity is synchronised
-- with its policies, and nothing waits for the next sync.
DROP TABLE IF EXISTS pol_next;
CREATE OR REPLACE TEMP TABLE pol_eval (__rd_row BIGINT, __rd_pending VARCHAR[]);
