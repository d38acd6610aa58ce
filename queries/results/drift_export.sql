-- The drift table in its documented column order (docs/outputs.md).
CREATE OR REPLACE TEMP VIEW drift_out AS
SELECT
    ep_key AS endpoint_key,
    identity_key,
    situation,
    attribute,
    repository_attribute,
    compare,
    kind,
    endpoint_value,
    repository_value
FROM drift
ORDER BY lower(ep_key), ep_key, attr_idx, kind, endpoint_value, repository_value;
