-- Correlation, step 3 for a rule no account has a value for ($rule_idx's values
-- {{values}}): nothing to collect, but the values are still computed for every
-- identity, as for the other rules, so that an expression that fails on the
-- repository's data stops the run (exit 2) whichever accounts this run happens
-- to correlate. (classify/correlate_repository_values.sql would stop reading
-- after its first rows: its join with no value for the rule ends the scan.)
SELECT count(vals)
FROM (
    SELECT {{values}} AS vals FROM read_parquet($repository_path, file_row_number = true)
);
