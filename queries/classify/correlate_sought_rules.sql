-- Correlation, between steps 2 and 3: the rules some account has a value for.
SELECT DISTINCT rule_idx FROM corr_ep_values ORDER BY rule_idx;
