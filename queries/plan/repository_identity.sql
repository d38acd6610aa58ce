-- `plan assign --any-identity` (recondiff/review/owners.py) and the default
-- identity of the owner decisions (recondiff/plan/build.py): the repository
-- snapshot's spelling of an identity key, folded as compare folds keys; no
-- row when the snapshot has no such identity (an account is assigned only to
-- an identity that exists), inside the [repository] scope ({{scope}}: the
-- identities compare sees; one it leaves out is never chosen nor offered).
SELECT any_value({{key}}) AS identity_key
FROM read_parquet($repository_path)
WHERE rd_key({{key}}) = rd_key($identity) AND ({{scope}}) IS NOT FALSE
HAVING count(*) > 0;
