-- situation (classify/situations.sql) holds everything later steps need from these;
-- dropped now, they leave the memory to the steps that follow (the staged
-- repository alone is 7 columns per identity).
DROP VIEW ep_state;
DROP TABLE ep_dup;
DROP TABLE ep;
DROP TABLE link_shared;
DROP TABLE repo;
DROP TABLE IF EXISTS ep_corr;
DROP TABLE IF EXISTS corr_situation;
DROP TABLE IF EXISTS corr_todo;
DROP TABLE IF EXISTS corr_ep_values;
DROP TABLE IF EXISTS corr_repo_values;
