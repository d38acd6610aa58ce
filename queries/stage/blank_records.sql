-- Endpoint records whose key is null or blank: skipped, reported, counted.
CREATE OR REPLACE TEMP TABLE blank_records AS
SELECT ep_row FROM ep_state WHERE pre_situation = 'blank_key';
