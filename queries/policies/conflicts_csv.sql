-- Identity policies 10: policy_conflicts.csv, cells neutralised for
-- spreadsheets (rd_csv), in repository order: the policies joined with ';'
-- (a policy name holds none), the value each sets, in the same order, as a
-- JSON array (a value may hold any character).
COPY (
    SELECT rd_csv(identity_key) AS identity_key, rd_csv(attribute) AS attribute,
           rd_csv(array_to_string(policies, ';')) AS policies,
           rd_csv(CAST(to_json("values") AS VARCHAR)) AS "values", pass
    FROM policy_conflict
    ORDER BY __rd_row, attribute
) TO $conflicts_path (FORMAT csv, HEADER);
