-- situation (situations.sql) holds everything later steps need from these.
DROP TABLE ep_linked;
