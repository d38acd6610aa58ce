-- Identity policies: a `set` constant as its column's type reads it (NULL: it
-- does not), written back as text: the one spelling a pass, expected.parquet
-- and a conflict compare ('007' and 7 are one INTEGER). The type is one of the
-- scalar types recondiff/engine/policies.py allows.
SELECT CAST(TRY_CAST(CAST($value AS VARCHAR) AS {{type}}) AS VARCHAR);
