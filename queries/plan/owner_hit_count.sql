-- Action plan: how many owner candidates classify found (classify/owner_hits.sql);
-- none: plan/owner_candidates_none.sql instead of scoring them.
SELECT count(*) FROM owner_hit;
