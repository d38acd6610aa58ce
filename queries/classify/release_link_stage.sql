-- ep_linked (classify/link_accounts.sql) holds everything later steps need from these.
DROP TABLE link_owner;
DROP TABLE ep_state;
