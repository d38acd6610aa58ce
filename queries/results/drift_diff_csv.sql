-- drift_diff.csv, the highlighter view: one row per drifted account, one
-- column per compared attribute (config order), a drifting cell written
-- "old->new": for single-valued kinds the endpoint's value(s) -> the
-- repository's; for set kinds the values only the endpoint has -> the values
-- only the repository has (each list joined with ';'). Cells that do not
-- drift are empty. Text cells are neutralised against spreadsheet formulas.
COPY (
    WITH per_attribute AS (
        SELECT
            ep_row, ep_key, identity_key, situation, attr_idx,
            coalesce(
                array_to_string(first(endpoint_values) FILTER (WHERE kind = 'changed'), ';'),
                string_agg(endpoint_value, ';' ORDER BY endpoint_value)
                    FILTER (WHERE kind = 'added'),
                ''
            )
            || '->' ||
            coalesce(
                array_to_string(first(repository_values) FILTER (WHERE kind = 'changed'), ';'),
                string_agg(repository_value, ';' ORDER BY repository_value)
                    FILTER (WHERE kind = 'removed'),
                ''
            ) AS cell
        FROM drift
        GROUP BY ep_row, ep_key, identity_key, situation, attr_idx
    )
    SELECT
        rd_csv(ep_key)       AS endpoint_key,
        rd_csv(identity_key) AS identity_key,
        situation{{cells}}
    FROM per_attribute
    GROUP BY ep_row, ep_key, identity_key, situation
    ORDER BY lower(ep_key), ep_key
) TO $path (FORMAT csv, HEADER true);
