-- Identity policies: one policy's `when` (and a `set_sql` where its `when`
-- holds) evaluated over the state alone, after a pass failed on the data: the
-- first that fails is the one the error names (recondiff/engine/policies.py).
SELECT count({{expression}}) FROM pol_state;
