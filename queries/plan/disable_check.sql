-- Action plan: how many accounts the plan disables, and the first whose
-- userAccountControl is not a number (on an AD endpoint the plan cannot set
-- its ACCOUNTDISABLE bit then; recondiff/plan/ refuses the run with that value).
SELECT count(*) AS disabling,
       min(coalesce(a.extra[1], ''))
           FILTER (WHERE TRY_CAST(trim(coalesce(a.extra[1], '')) AS BIGINT) IS NULL) AS bad_value
FROM plan_row r LEFT JOIN plan_account a ON a.ep_row = r.endpoint_record
WHERE r.action = 'disable_in_endpoint';
