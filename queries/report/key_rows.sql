-- Report: the endpoint record of the linked or correlated accounts that
-- alerts name by key (the plan's events carry keys, not records).
SELECT endpoint_key, endpoint_record
FROM situations_out
WHERE rank IN (rd_rank('linked'), rd_rank('correlated'))
  AND endpoint_key IN (SELECT unnest($keys::VARCHAR[]));
