-- Action plan: the rows listed for attention in the plan's header (situations
-- whose response is review but which no single event can settle).
SELECT situation, endpoint_key, endpoint_dn, identity_key, rule, candidates
FROM plan_row
WHERE list_contains($attention::VARCHAR[], situation)
ORDER BY ord;
