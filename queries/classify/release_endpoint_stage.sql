-- ep_state (classify/endpoint_state.sql) holds everything later steps need from ep:
-- freeing ep leaves DuckDB's memory limit to the joins (less spilling).
DROP TABLE ep;
