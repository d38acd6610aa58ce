-- Every endpoint record beside the identities whose link names its key, in one
-- full outer join:
--   an account row with link columns   -> decided by link (classify/situations.sql)
--   an account row without             -> tried by correlation next
--   a link_owner row with no account   -> its live identities are `missing`
-- (Records with a blank key take no part.)
CREATE OR REPLACE TEMP TABLE ep_linked AS
SELECT
    e.ep_row,
    e.ep_key_norm,
    e.attr_hash,
    e.pre_situation,
    e.pre_rule,
    l.link_norm,
    l.live_links,
    l.deleted_links,
    l.owner_row,
    l.owner_key,
    l.owner_hash,
    l.candidates
FROM (SELECT * FROM ep_state WHERE pre_situation IS DISTINCT FROM 'blank_key') e
FULL OUTER JOIN link_owner l ON l.link_norm = e.ep_key_norm;
