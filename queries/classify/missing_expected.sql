-- With [repository] expect_account = true (and not incremental): a live identity
-- with no link that no endpoint record links or correlates to, in any situation
-- (as the identity or a candidate), is `missing` too.
INSERT INTO situation
SELECT rd_rank('missing'), 'missing', NULL, NULL, NULL, r.id_row, r.id_key, 'expect_account', NULL, NULL
FROM repo r
WHERE NOT r.deleted
  AND r.link_norm IS NULL
  AND r.id_row NOT IN (
      SELECT id_row FROM situation WHERE id_row IS NOT NULL
      UNION
      SELECT unnest(candidate_rows) FROM situation WHERE candidate_rows IS NOT NULL
  );
