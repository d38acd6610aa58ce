-- Endpoint records whose key is null or blank: skipped, reported, counted.
SELECT ep_row FROM ep WHERE ep_key_norm IS NULL ORDER BY ep_row LIMIT 10;
