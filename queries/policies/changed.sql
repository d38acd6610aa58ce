-- Identity policies 3: how many identities the last pass changed (none: the
-- evaluation stops, every identity is synchronised with its policies).
SELECT count(*) FILTER (WHERE __rd_changed) FROM pol_next;
