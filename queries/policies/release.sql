-- Identity policies 13: the state tables are dropped once the derived
-- snapshot and the outputs hold what later steps need (less spilling).
DROP TABLE IF EXISTS pol_state;
DROP TABLE IF EXISTS pol_eval;
DROP TABLE IF EXISTS pol_next;
