-- The action plan's events (plan/events.sql; docs/plan.md).
-- Events are written as canonical JSON by to_json over structs whose fields
-- are declared in sorted order. DuckDB spells a \u escape of a control
-- character in upper case where the canonical form has lower case; the writer
-- (recondiff/plan/file.py) re-encodes the rare line that holds one.

-- A value list without blanks (rd_blank) and repeats, in order.
CREATE OR REPLACE MACRO rd_clean(l) AS
    list_filter(l, lambda x, i: x IS NOT NULL AND NOT rd_blank(x) AND list_position(l, x) = i);
-- rd_clean of the one-value list [v], without the lambda: DuckDB runs a
-- lambda that reads its list row by row, and most mapped attributes are
-- single-valued (benchmarks/NOTES.md).
CREATE OR REPLACE MACRO rd_clean_one(v) AS
    CASE WHEN v IS NULL OR rd_blank(v) THEN CAST([] AS VARCHAR[]) ELSE [v] END;
-- A list without repeats, in order.
CREATE OR REPLACE MACRO rd_dedupe(l) AS list_filter(l, lambda x, i: list_position(l, x) = i);

-- A NULL list (a JSON Lines null, a null multi-valued cell) is no value: [],
-- never "values": null, which the plan's schema refuses (load_plan would then
-- refuse the plan compare just wrote; tests/test_drift_redteam.py).
CREATE OR REPLACE MACRO rd_change(op, attribute, vals) AS
    {'attribute': attribute, 'op': op,
     'values': coalesce(CAST(vals AS VARCHAR[]), CAST([] AS VARCHAR[]))};
CREATE OR REPLACE MACRO rd_pre(attribute, vals) AS
    {'attribute': attribute, 'values': coalesce(CAST(vals AS VARCHAR[]), CAST([] AS VARCHAR[]))};
CREATE OR REPLACE MACRO rd_no_changes() AS
    CAST([] AS STRUCT(attribute VARCHAR, op VARCHAR, "values" VARCHAR[])[]);
CREATE OR REPLACE MACRO rd_no_pre() AS CAST([] AS STRUCT(attribute VARCHAR, "values" VARCHAR[])[]);

-- Preconditions on one attribute (compared case-insensitively) merged into
-- one, at the place of its first, keeping its first spelling.
CREATE OR REPLACE MACRO rd_merge_pre(pre) AS
    list_transform(
        list_filter(
            list_transform(pre, lambda p: lower(p.attribute)),
            lambda k, i: list_position(list_transform(pre, lambda p: lower(p.attribute)), k) = i
        ),
        lambda k: rd_pre(
            list_filter(pre, lambda p: lower(p.attribute) = k)[1].attribute,
            rd_dedupe(flatten(list_transform(
                list_filter(pre, lambda p: lower(p.attribute) = k), lambda p: p."values")))
        )
    );

-- The stable event id (recondiff/plan/file.py event_id): SHA-256 of the target,
-- operation, object keys and changes joined with RS (between fields) and US
-- (inside a change), NULLs left out: what array_to_string of the one list of
-- them all gives, spelled with concat_ws (which leaves NULLs out alike), as
-- list_aggr runs an aggregate per row. A change's values follow its op and
-- attribute only when it has a value that is not NULL.
-- (The body in parentheses: sqlglot, which makes the Spark form, reads a macro
-- body that begins with a string as a function's body text; also rd_finding_key.)
CREATE OR REPLACE MACRO rd_event_id(target, operation, key, dn, identity_key, member_key,
                                    member_dn, changes) AS
    ('ev-' || sha256(
        concat_ws(chr(30), target, operation, coalesce(key, ''), coalesce(dn, ''),
                  coalesce(identity_key, ''), coalesce(member_key, ''),
                  coalesce(member_dn, ''))
        || coalesce(array_to_string(list_transform(changes, lambda c: chr(30) || concat_ws(
               chr(31), c.op, c.attribute,
               CASE WHEN list_aggregate(c."values", 'count') > 0
                    THEN array_to_string(c."values", chr(31)) END)), ''), ''))[1:16]);

CREATE OR REPLACE MACRO rd_approval(review) AS
    {'at': CAST(NULL AS VARCHAR), 'by': CAST(NULL AS VARCHAR), 'comment': CAST(NULL AS VARCHAR),
     'required': review, 'state': CASE WHEN review THEN 'pending' ELSE 'auto' END};

-- An attribute value escaped for a DN (RFC 4514 section 2.4): , + " \ < > ; =
-- anywhere, # and space first, space last.
CREATE OR REPLACE MACRO rd_dn_escape_inner(e, v) AS
    CASE WHEN length(v) > 1 AND ends_with(v, ' ') THEN e[1:-2] || '\ ' ELSE e END;
CREATE OR REPLACE MACRO rd_dn_escape(v) AS
    rd_dn_escape_inner(
        CASE WHEN left(v, 1) IN ('#', ' ') THEN '\' ELSE '' END
            || regexp_replace(v, '([,+"\\<>;=])', '\\\1', 'g'),
        v);
-- A DN template filled: literals[1] value[1] literals[2] ... ; NULL when a
-- placeholder has no value.
CREATE OR REPLACE MACRO rd_fill_dn(literals, vals) AS
    CASE WHEN len(list_filter(vals, lambda v: v IS NULL)) > 0 THEN NULL
         ELSE literals[1] || array_to_string(
             list_transform(range(1, len(vals) + 1), lambda i: rd_dn_escape(vals[i]) || literals[i + 1]),
             '') END;

-- How an account is disabled (plan/events.sql; docs/plan.md, `disable`): the
-- changes and the preconditions beyond the account's own, by the endpoint's
-- method, from the values the export held of the disable column (extra).
CREATE OR REPLACE MACRO rd_disable_changes(method, extra, attribute, value) AS
    CASE method
        WHEN 'ad' THEN [
            rd_change('delete', 'userAccountControl', [coalesce(extra[1], '')]),
            rd_change('add', 'userAccountControl',
                      [CAST(TRY_CAST(trim(coalesce(extra[1], '')) AS BIGINT) | 2 AS VARCHAR)])]
        WHEN 'openldap' THEN [rd_change('add', 'pwdAccountLockedTime', ['000001010000Z'])]
        -- only what the plan saw: values added since the export stay
        ELSE (CASE WHEN len(list_filter(extra, lambda v: rd_fold(v) <> rd_fold(value))) > 0
                   THEN [rd_change('delete', attribute,
                                   list_filter(extra, lambda v: rd_fold(v) <> rd_fold(value)))]
                   ELSE rd_no_changes() END)
             || (CASE WHEN list_contains(list_transform(extra, lambda v: rd_fold(v)), rd_fold(value))
                      THEN rd_no_changes()
                      ELSE [rd_change('add', attribute, [value])] END)
    END;
CREATE OR REPLACE MACRO rd_disable_pre(method, extra, attribute, has_column) AS
    CASE method
        WHEN 'ad' THEN [rd_pre('userAccountControl', [coalesce(extra[1], '')])]
        WHEN 'openldap' THEN [rd_pre('pwdAccountLockedTime', [])]
        ELSE CASE WHEN has_column THEN [rd_pre(attribute, extra)] ELSE rd_no_pre() END
    END;

-- An event's "findings" (docs/plan.md): the finding key it comes from
-- (macros/situations.sql rd_finding_key) with the attribute it is about (NULL
-- for the account itself); none when the row has no key.
CREATE OR REPLACE MACRO rd_findings(attribute, finding_key) AS
    CASE WHEN finding_key IS NULL THEN CAST([] AS STRUCT(attribute VARCHAR, "key" VARCHAR)[])
         ELSE [{'attribute': CAST(attribute AS VARCHAR), 'key': finding_key}] END;
