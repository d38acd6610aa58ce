-- Report: the drift rows of the accounts whose side-by-side view is shown,
-- each with the identity policy that expects its repository value, if one
-- does (policies/why.sql, matched as report/policy_expected.sql does).
SELECT d.ep_row, d.attr_idx, d.kind, rd_shown(d.endpoint_value) AS endpoint_value,
       rd_shown(d.repository_value) AS repository_value, pw.policy,
       rd_shown(pw."when") AS "when"
FROM drift d
LEFT JOIN policy_why pw
       ON pw.identity_norm = rd_key(d.identity_key)
      AND pw.attribute_norm = lower(list_extract($repository_columns::VARCHAR[], d.attr_idx))
      AND pw.value = d.repository_value
WHERE d.ep_row IN (SELECT unnest($ep_rows::BIGINT[]))
ORDER BY d.ep_row, d.attr_idx, d.kind, endpoint_value, repository_value;
