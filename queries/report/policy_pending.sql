-- Report: the identities with policies waiting for the next sync
-- (policies.parquet `pending`: what one more evaluation after the last
-- allowed pass would allocate or deallocate), the first $limit in repository
-- order with their applied list, and how many there are in all. Keys and
-- applied names cut as the report shows them (rd_shown): an applied list may
-- hold names no [[policy]] has.
SELECT rd_shown(identity_key) AS identity_key,
       list_transform(applied, lambda v: rd_shown(v)) AS applied,
       list_transform(pending, lambda v: rd_shown(v)) AS pending,
       count(*) OVER () AS total
FROM read_parquet($policies_path, file_row_number = true)
WHERE len(pending) > 0
ORDER BY file_row_number
LIMIT $limit;
