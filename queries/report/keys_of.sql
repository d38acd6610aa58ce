-- Report: the keys of some endpoint records, as the endpoint spells them.
SELECT endpoint_record, rd_shown(endpoint_key) AS endpoint_key
FROM read_parquet($situations_parquet)
WHERE endpoint_record IN (SELECT unnest($ep_rows::BIGINT[]));
