-- `plan assign --any-identity` (recondiff/review/owners.py) and the default
-- identity of the owner decisions (recondiff/plan/build.py): the repository
-- snapshot's spelling of an identity key, folded as compare folds keys; no
-- row when the snapshot has no such identity (an account is assigned only to
-- an identity that exists).
SELECT any_value({{key}}) AS identity_key
FROM read_parquet($repository_path)
WHERE rd_key({{key}}) = rd_key($identity)
HAVING count(*) > 0;
