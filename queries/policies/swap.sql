-- Identity policies 4a: after the first pass, which read every identity, its
-- result is the state the next pass reads.
DROP TABLE pol_state;
ALTER TABLE pol_next RENAME TO pol_state;
