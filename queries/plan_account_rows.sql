-- Action plan, step 3a: the endpoint records plan_accounts.sql reads, as a
-- bitstring in the connection variable rd_plan_account_rows (bit i set =
-- record i + 1). Tested with get_bit, it filters inside the Parquet scan, as
-- in drift_rows.sql: plan_accounts at 1M on saved state 0.30 -> 0.24 s wall.
SET VARIABLE rd_plan_account_rows = (
    SELECT bitstring_agg(endpoint_record, 1, greatest($endpoint_rows, 1))
    FROM plan_row
    WHERE action IN ('delete_from_endpoint', 'disable_in_endpoint', 'add_to_repository')
);
