-- Report: the keys of some endpoint records, as the endpoint spells them.
SELECT endpoint_record, rd_shown(endpoint_key) AS endpoint_key
FROM situations_out
WHERE endpoint_record IN (SELECT unnest($ep_rows::BIGINT[]));
