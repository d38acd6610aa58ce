-- Reviewer assignments the repository has made its own (docs/plan.md, Owners):
-- the identity's own link column already names the assigned account. Such an
-- assignment has done its work (the identity system imported the link); the
-- history marks it settled (recondiff/history.py settle_assignments), so that
-- if the repository later drops the link, the old choice does not re-link the
-- account. Runs before classify/assigned_links.sql changes `repo`.
SELECT DISTINCT a.endpoint_key, a.identity_key
FROM read_parquet($assignments_path) a
JOIN repo r ON r.id_key_norm = rd_key(a.identity_key) AND r.link_norm = rd_key(a.endpoint_key)
ORDER BY 1, 2;
