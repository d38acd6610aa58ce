-- Report: the endpoint record of each linked or correlated account by its key
-- (alerts from the plan name accounts by key).
SELECT endpoint_key, endpoint_record
FROM read_parquet($situations_parquet)
WHERE situation IN ('linked', 'correlated') AND endpoint_key IS NOT NULL;
