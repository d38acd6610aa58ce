-- The nine situations in the order of docs/design.md's table: a situation's rank
-- is its place here (classify/situations.sql), the order of situations.parquet, from
-- which results/situations_parquet.sql spells the situation again.
CREATE OR REPLACE MACRO rd_situations() AS
    ['linked', 'correlated', 'collision', 'ambiguous', 'unmatched', 'missing',
     'deleted_in_repository', 'excluded', 'duplicate_key'];

-- The identity of a finding across runs (history): its situation (with the
-- sync state of a pair) and the folded keys of both sides.
CREATE OR REPLACE MACRO rd_finding(situation, sync, endpoint_key, identity_key) AS
    situation || coalesce(':' || sync, '')
    || '|' || coalesce(rd_key(endpoint_key), '') || '|' || coalesce(rd_key(identity_key), '');
-- A situations row is a finding unless it is excluded or a linked pair in sync.
CREATE OR REPLACE MACRO rd_is_finding(situation, sync) AS
    situation <> 'excluded' AND NOT (situation = 'linked' AND sync IS NOT DISTINCT FROM 'in_sync');
