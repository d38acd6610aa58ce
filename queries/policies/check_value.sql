-- Identity policies: does a `set` constant read as its column's type (the
-- type is one of the scalar types recondiff/engine/policies.py allows)?
SELECT TRY_CAST(CAST($value AS VARCHAR) AS {{type}}) IS NOT NULL;
