-- Report: the drift rows of the accounts whose side-by-side view is shown.
SELECT ep_row, attr_idx, kind, rd_shown(endpoint_value) AS endpoint_value,
       rd_shown(repository_value) AS repository_value
FROM drift
WHERE ep_row IN (SELECT unnest($ep_rows::BIGINT[]))
ORDER BY ep_row, attr_idx, kind, endpoint_value, repository_value;
