-- Identity policies 4b: after a later pass, which read only the identities the
-- pass before changed (__rd_changed), those rows are replaced by its result.
DELETE FROM pol_state WHERE __rd_changed;
INSERT INTO pol_state BY NAME SELECT * FROM pol_next;
DROP TABLE pol_next;
