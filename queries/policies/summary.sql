-- Identity policies 12b: the counts of summary.json's `policies`: identities
-- whose record the policies change, policies allocated, deallocated and
-- reallocated (per identity), identities with policies waiting for the next
-- sync, applied names no [[policy]] has (kept as they are), conflicts.
SELECT (SELECT count(*) FROM policy_change),
       sum(CASE WHEN len(__rd_allocated) > 0 THEN len(rd_dedupe(__rd_allocated)) ELSE 0 END),
       sum(CASE WHEN len(__rd_deallocated) > 0 THEN len(rd_dedupe(__rd_deallocated)) ELSE 0 END),
       sum(CASE WHEN len(__rd_reallocated) > 0 THEN len(rd_dedupe(__rd_reallocated)) ELSE 0 END),
       (SELECT count(*) FROM pol_eval WHERE len(__rd_pending) > 0),
       sum(CASE WHEN len(__rd_a) = 0 THEN 0 ELSE
           len(list_filter(__rd_a, lambda x: NOT list_contains($lower_names::VARCHAR[], x))) END),
       (SELECT count(*) FROM policy_conflict)
FROM pol_state;
