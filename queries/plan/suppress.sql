-- Action plan, step 4e: what an active exception accepts is proposed no more
-- (an anti-join, as deletes, before the events are built). A drift row goes;
-- a situations row goes, unless it is a drifted pair, whose other drift rows
-- are still proposed: then only its account event goes (action NULL; its
-- review flag stays, so a correlated pair's fixes still wait for review).
DELETE FROM plan_drift_row WHERE pos IN (SELECT drift_pos FROM plan_accepted);
DELETE FROM plan_row
WHERE ord IN (SELECT ord FROM plan_accepted) AND sync IS DISTINCT FROM 'drifted';
UPDATE plan_row SET action = NULL
WHERE ord IN (SELECT ord FROM plan_accepted);
