-- One successful explore (recondiff/explore/state.py).
INSERT INTO explores VALUES ($source_key, $source, $explored_at, $read_seconds,
    $change_attribute, $high_water, $delta, $since, $entries, $snapshot);
