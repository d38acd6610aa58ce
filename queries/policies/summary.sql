-- Identity policies 12b: the counts of summary.json's `policies`: identities
-- whose record the policies change, policies allocated, deallocated and
-- reallocated (per identity), identities with policies waiting for the next
-- sync, applied names no [[policy]] has (kept as they are), conflicts.
SELECT (SELECT count(*) FROM policy_change),
       sum(len(rd_dedupe(__rd_allocated))),
       sum(len(rd_dedupe(__rd_deallocated))),
       sum(len(rd_dedupe(__rd_reallocated))),
       count(*) FILTER (WHERE len(e.pending) > 0),
       sum(len(list_filter(coalesce(CAST({{applied}} AS VARCHAR[]), []),
                           lambda x: NOT list_contains($lower_names::VARCHAR[], lower(trim(x)))))),
       (SELECT count(*) FROM policy_conflict)
FROM pol_state JOIN pol_eval e USING (__rd_row);
