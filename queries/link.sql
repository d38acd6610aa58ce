-- By link: active accounts that in-scope identities name in their link column.
--   live_links = 1          -> linked
--   live_links > 1          -> ambiguous (candidates: the live identities)
--   live_links = 0          -> deleted_in_repository (only deleted identities link it)
CREATE OR REPLACE TEMP TABLE ep_link AS
SELECT
    e.ep_row,
    count(*) FILTER (WHERE NOT r.deleted)                        AS live_links,
    min(r.id_row) FILTER (WHERE NOT r.deleted)                   AS live_row,
    min(r.id_row) FILTER (WHERE r.deleted)                       AS deleted_row,
    list_sort(list(r.id_key) FILTER (WHERE NOT r.deleted))       AS live_candidates,
    list_sort(list(r.id_key) FILTER (WHERE r.deleted))           AS deleted_candidates
FROM ep e
JOIN ep_state s USING (ep_row)
JOIN repo r ON r.link_norm = e.ep_key_norm
WHERE s.pre_situation IS NULL
GROUP BY e.ep_row;
