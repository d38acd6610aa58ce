-- Settle the assignments of config $config_key that a run saw the repository
-- hold as its own link ($pairs: classify/assigned_settled.sql), and every
-- earlier assignment of the same account or the same identity: the repository
-- now speaks for both (recondiff/history.py History.settle_assignments).
-- A settled assignment is no longer exported (history/assignments.sql).
UPDATE assignments AS a SET settled_at = $at
FROM (
    SELECT rd_key(s.endpoint_key) AS account_norm, rd_key(s.identity_key) AS identity_norm,
           max(x.assigned_at) AS upto
    FROM (SELECT unnest($pairs::STRUCT(endpoint_key VARCHAR, identity_key VARCHAR)[],
                         recursive := true)) s
    JOIN assignments x
      ON x.config_key = $config_key
     AND rd_key(x.endpoint_key) = rd_key(s.endpoint_key)
     AND rd_key(x.identity_key) = rd_key(s.identity_key)
    GROUP BY ALL
) s
WHERE a.config_key = $config_key AND a.settled_at IS NULL AND a.assigned_at <= s.upto
  AND (rd_key(a.endpoint_key) = s.account_norm OR rd_key(a.identity_key) = s.identity_norm);
