-- The nine situations in the order of docs/design.md's table, as
-- recondiff/vocabulary.py SITUATIONS lists them: the run's connection binds
-- that list to the variable rd_situations (engine/confine.open_connection), so
-- the list is written once. DuckDB folds getvariable() into a constant.
-- A situation's rank is its place in the list (classify/situations.sql), the
-- order of situations.parquet, from which results/situations_parquet.sql
-- spells the situation again. Queries name a rank only as rd_rank('...').
-- A connection opened otherwise (history.py's, a test's) has no such variable:
-- there rd_situations() is an error, never a NULL list that would make every
-- rank and every situation spelled from one NULL.
CREATE OR REPLACE MACRO rd_situations() AS
    CASE WHEN getvariable('rd_situations') IS NULL
         THEN error('rd_situations() needs the variable rd_situations: open the connection '
                    || 'with recondiff.engine.confine.open_connection')
         ELSE CAST(getvariable('rd_situations') AS VARCHAR[]) END;
CREATE OR REPLACE MACRO rd_rank(situation) AS list_position(rd_situations(), situation);

-- The identity of a finding across runs (history): its situation (with the
-- sync state of a pair) and the folded keys of both sides.
CREATE OR REPLACE MACRO rd_finding(situation, sync, endpoint_key, identity_key) AS
    situation || coalesce(':' || sync, '')
    || '|' || coalesce(rd_key(endpoint_key), '') || '|' || coalesce(rd_key(identity_key), '');
-- A situations row is a finding unless it is excluded or a linked pair in sync.
CREATE OR REPLACE MACRO rd_is_finding(situation, sync) AS
    situation <> 'excluded' AND NOT (situation = 'linked' AND sync IS NOT DISTINCT FROM 'in_sync');

-- The identity of one finding the plan proposes something for, the same in the
-- next run for the same finding (history's exceptions, docs/plan.md "Decisions
-- that persist"): the account (its key as spelled, trimmed, NFC: a look-alike
-- key is another account; the entry's UUID when the export has one, so an
-- entry re-created under the key is another account), the identity, the
-- situation, the attribute type (NULL for the account itself) and the values,
-- hashed as canonical JSON (unambiguous). Another value gives another key.
CREATE OR REPLACE MACRO rd_finding_key(endpoint_key, identity_key, uuid, situation, attribute,
                                       vals) AS
    ('fd-' || sha256(to_json({
        'account': nullif(rd_nfc(rd_strip(endpoint_key)), ''),
        'identity': nullif(rd_nfc(rd_strip(identity_key)), ''),
        'uuid': nullif(rd_strip(uuid), ''),
        'situation': situation,
        'attribute': attribute,
        'values': vals
    }))[1:32]);
