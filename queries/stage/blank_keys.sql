-- Endpoint records whose key is null or blank: skipped, reported, counted.
SELECT ep_row FROM blank_records ORDER BY ep_row LIMIT 10;
