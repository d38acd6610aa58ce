-- Which identity owned which account in one run.
SELECT identity_key, identity_norm, account_norm FROM owners WHERE run_id = $run_id;
