-- Identity policies 4: the pass's result is the state the next pass reads.
DROP TABLE pol_state;
ALTER TABLE pol_next RENAME TO pol_state;
