-- Normalisation, one macro per compare kind (docs/semantics.md, "Compare kinds").
--
-- Every kind maps "no value" (NULL, '', whitespace only, an empty list) to NULL,
-- so that two absent values compare equal with IS NOT DISTINCT FROM.
-- Scalar kinds take VARCHAR and return VARCHAR; set kinds take VARCHAR[] and
-- return a sorted, de-duplicated VARCHAR[] (or NULL when empty). The staging
-- queries call the specific macro for each attribute (fast); the drift query
-- calls rd_norm(value, kind), which dispatches to the very same macros, so the
-- hash that decides "in sync" and the drift rows can never disagree.

-- Whitespace, everywhere in recondiff: ASCII whitespace (space, tab, LF, CR,
-- VT, FF) and every Unicode space separator (NBSP, U+3000, ...). A value that
-- begins and ends with a printable ASCII character has none to strip and is
-- returned as it is: trim() cost 50 ns a value even then, and rd_strip went
-- from 0.79 to 0.28 s on 10M values. Plain trim() strips spaces and the
-- Unicode separators; the regular expression, which costs about twice as
-- much, runs only for values that hold an ASCII control-whitespace character
-- (RE2's \s leaves out VT: \v names it).
-- tests/test_normalise.py holds both shortcuts (here and in rd_fold) equal to
-- the plain spelling on generated text.
CREATE OR REPLACE MACRO rd_strip(v) AS
    CASE WHEN ascii(v) BETWEEN 33 AND 126 AND ascii(array_extract(v, -1)) BETWEEN 33 AND 126
         THEN v
         WHEN contains(v, chr(9)) OR contains(v, chr(10)) OR contains(v, chr(13))
              OR contains(v, chr(11)) OR contains(v, chr(12))
         THEN regexp_replace(v, '^[\s\v\p{Z}]+|[\s\v\p{Z}]+$', '', 'g') ELSE trim(v) END;

-- A value that is empty or only whitespace is no value. Only values that start
-- with a control character, a space or a non-ASCII character are stripped to
-- find out.
CREATE OR REPLACE MACRO rd_blank(v) AS
    v = '' OR ((ascii(v) <= 32 OR ascii(v) >= 128) AND rd_strip(v) = '');

CREATE OR REPLACE MACRO rd_value(v) AS CASE WHEN rd_blank(v) THEN NULL ELSE v END;

-- Case folding: lower(upper(v)) folds what lower() alone leaves apart, such as
-- Greek final sigma (ς/σ/Σ). An ASCII value (as many bytes as characters)
-- needs only lower(): 0.43 -> 0.22 s on 10M values. With rd_strip's shortcut,
-- staging the 1M benchmark's repository took 0.3 s less CPU (10M: both
-- stagings took 14 to 18 s in three runs, 20 to 22 s before). The price is
-- in planning: rd_norm's expansion grew (drift/differences.sql plans in 0.19 s, not
-- 0.12 s; likewise plan/drift_rules.sql and report/privileged.sql), and a
-- value that ends in a non-ASCII letter costs about 15% more to fold as a key.
--
-- Unicode: text that looks the same is the same text. "josé" typed with a
-- composed é (U+00E9) and with e + U+0301 are one key, as LDAP matching
-- (RFC 4518) has them: a value that is not pure ASCII is put in Unicode
-- Normalisation Form C before folding. NFC of pure ASCII is itself, so an
-- ASCII value stays on its fast path (tests/test_normalise.py holds rd_nfc and
-- rd_fold equal to their plain spellings). The folded form may itself not be
-- NFC (upper-casing U+0390 gives three code points), but two canonically
-- equivalent values fold alike, which is all a comparison needs; a second
-- nfc_normalize cost 0.5 s more per 3M non-ASCII values. NFC costs a
-- non-ASCII value about 0.2 us (3M: lower(upper()) 0.33 s, with NFC 0.92 s).
CREATE OR REPLACE MACRO rd_nfc(v) AS
    CASE WHEN strlen(v) = length(v) THEN v ELSE nfc_normalize(v) END;

CREATE OR REPLACE MACRO rd_fold(v) AS
    CASE WHEN strlen(v) = length(v) THEN lower(v)
         ELSE lower(upper(nfc_normalize(v))) END;

-- Keys and links compare case-insensitively, trimmed.
CREATE OR REPLACE MACRO rd_key(v) AS nullif(rd_fold(rd_strip(v)), '');

CREATE OR REPLACE MACRO rd_exact(v) AS rd_nfc(rd_value(v));
CREATE OR REPLACE MACRO rd_casefold(v) AS CASE WHEN rd_blank(v) THEN NULL ELSE rd_fold(v) END;
CREATE OR REPLACE MACRO rd_trim(v) AS rd_nfc(nullif(rd_strip(v), ''));
CREATE OR REPLACE MACRO rd_casefold_trim(v) AS nullif(rd_fold(rd_strip(v)), '');

-- integer: the number it spells ('007' = '7' = '+7'); other text compares trimmed.
CREATE OR REPLACE MACRO rd_integer(v) AS
    CASE WHEN regexp_full_match(rd_strip(v), '[+-]?0*[0-9]{1,38}')
         THEN CAST(CAST(rd_strip(v) AS HUGEINT) AS VARCHAR)
         ELSE rd_nfc(nullif(rd_strip(v), '')) END;

CREATE OR REPLACE MACRO rd_boolean(v) AS
    CASE
        WHEN lower(rd_strip(v)) IN ('true', 'yes', 'y', 'on', '1', 't') THEN 'true'
        WHEN lower(rd_strip(v)) IN ('false', 'no', 'n', 'off', '0', 'f') THEN 'false'
        ELSE rd_casefold_trim(v)
    END;

-- An instant in UTC from ISO 8601 (also the basic date form YYYYMMDD), AD generalized time (YYYYMMDDHHMMSS[.f][Z|±hhmm])
-- or AD FILETIME (100 ns ticks since 1601-01-01 UTC; 0 and 2^63-1 mean "never").
-- Returns NULL for "never" and for text that is none of these.
-- The session runs with TimeZone = 'UTC', so naive ISO values are read as UTC.
CREATE OR REPLACE MACRO rd_instant(t) AS
    CASE
        WHEN regexp_full_match(t, '[0-9]{15,19}') THEN
            CASE WHEN t IN ('0', '9223372036854775807') OR try_cast(t AS HUGEINT) = 0 THEN NULL
                 ELSE CAST(TIMESTAMP '1601-01-01' AS TIMESTAMPTZ)
                      + to_microseconds(CAST(try_cast(t AS HUGEINT) // 10 AS BIGINT))
            END
        WHEN regexp_full_match(t, '[0-9]{8}') THEN
            try_cast(substr(t, 1, 4) || '-' || substr(t, 5, 2) || '-' || substr(t, 7, 2) AS TIMESTAMPTZ)
        WHEN regexp_full_match(t, '[0-9]{14}([.,][0-9]+)?(Z|[+-][0-9]{4})?') THEN
            try_cast(
                substr(t, 1, 4) || '-' || substr(t, 5, 2) || '-' || substr(t, 7, 2) || ' '
                || substr(t, 9, 2) || ':' || substr(t, 11, 2) || ':' || substr(t, 13, 2)
                || coalesce(nullif(regexp_extract(t, '([+-][0-9]{4})$', 1), ''), '+0000')
                AS TIMESTAMPTZ)
        ELSE try_cast(t AS TIMESTAMPTZ)
    END;

-- date and timestamp: the instant, formatted to the day or to the second;
-- "never" and empty are no value; text that is no instant compares trimmed.
CREATE OR REPLACE MACRO rd_when(v, fmt) AS
    CASE
        WHEN nullif(rd_strip(v), '') IS NULL OR rd_strip(v) IN ('0', '9223372036854775807')
            THEN NULL
        ELSE coalesce(strftime(rd_instant(rd_strip(v)), fmt), rd_nfc(rd_strip(v)))
    END;

CREATE OR REPLACE MACRO rd_date(v) AS rd_when(v, '%Y-%m-%d');
CREATE OR REPLACE MACRO rd_timestamp(v) AS rd_when(v, '%Y-%m-%d %H:%M:%S');

-- dn: RFC 4514 canonical form.
-- 1. Escaped special characters (\, or \2c, \+ or \2b, ...) become private-use
--    placeholders, so that they survive splitting on the separators.
-- 2. Remaining hex escapes (UTF-8 bytes such as \c3\a9) are decoded; then any
--    other escaped character stands for itself.
-- 3. RDNs split on ',', AVAs on '+'; types lower-cased and trimmed, values
--    trimmed and case-folded; the AVAs of a multi-valued RDN sorted.
-- 4. Placeholders for ',' '+' '\' become escapes again; the rest literal.
CREATE OR REPLACE MACRO rd_dn_protect(s) AS
    regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
    regexp_replace(regexp_replace(regexp_replace(regexp_replace(
        regexp_replace(s, '\\\\|\\5[cC]', chr(57348), 'g'),
        '\\,|\\2[cC]', chr(57344), 'g'),
        '\\\+|\\2[bB]', chr(57345), 'g'),
        '\\=|\\3[dD]', chr(57346), 'g'),
        '\\"|\\22', chr(57347), 'g'),
        '\\<|\\3[cC]', '<', 'g'),
        '\\>|\\3[eE]', '>', 'g'),
        '\\;|\\3[bB]', ';', 'g'),
        '\\ |\\20', chr(57352), 'g'),
        '\\#|\\23', '#', 'g');

CREATE OR REPLACE MACRO rd_dn_unescape(s) AS
    regexp_replace(
        coalesce(
            try(url_decode(regexp_replace(replace(s, '%', '%25'), '\\([0-9A-Fa-f]{2})', '%\1', 'g'))),
            s),
        '\\(.)', '\1', 'g');

CREATE OR REPLACE MACRO rd_dn_ava(ava) AS
    lower(rd_strip(split_part(ava, '=', 1)))
    || '='
    || rd_fold(rd_strip(substr(ava, strpos(ava, '=') + 1)));

CREATE OR REPLACE MACRO rd_dn(v) AS
    CASE WHEN rd_trim(v) IS NULL THEN NULL ELSE
    replace(replace(replace(replace(replace(
        array_to_string(
            list_transform(
                string_split(rd_dn_unescape(rd_dn_protect(rd_strip(v))), ','),
                lambda rdn: array_to_string(
                    list_sort(list_transform(string_split(rdn, '+'), lambda ava: rd_dn_ava(ava))),
                    '+')),
            ','),
        chr(57344), '\,'),
        chr(57345), '\+'),
        chr(57346), '='),
        chr(57347), '"'),
        chr(57348), '\\')
    END;

-- A DN with no escape, no multi-valued RDN, no quote and no space around a
-- separator is already canonical once lower-cased: the common case in AD and
-- LDAP exports. Measured on 5M group DNs: 51 s through rd_dn, 4.6 s with this
-- short cut (docs/semantics.md is unchanged; tests/test_normalise.py covers both).
CREATE OR REPLACE MACRO rd_dn_plain(v) AS NOT (
    contains(v, '\') OR contains(v, '+') OR contains(v, '"')
    OR contains(v, ' ,') OR contains(v, ', ') OR contains(v, ' =') OR contains(v, '= ')
    OR contains(v, chr(9)) OR contains(v, chr(10)) OR contains(v, chr(13))
    OR regexp_matches(v, '[\p{Z}],|,[\p{Z}]|[\p{Z}]=|=[\p{Z}]'));

-- Escaped spaces are ordinary spaces once the surrounding ones were trimmed.
CREATE OR REPLACE MACRO rd_dn_final(v) AS
    CASE WHEN rd_dn_plain(v) THEN nullif(rd_fold(rd_strip(v)), '')
         ELSE replace(rd_dn(v), chr(57352), ' ') END;

-- Set kinds: normalise each value, drop no-values (list_distinct drops NULLs),
-- sort and de-duplicate; an empty set is no value.
CREATE OR REPLACE MACRO rd_setof(l) AS
    nullif(list_sort(list_distinct(l)), CAST([] AS VARCHAR[]));
CREATE OR REPLACE MACRO rd_set(l) AS rd_setof(list_transform(l, lambda x: rd_exact(x)));
CREATE OR REPLACE MACRO rd_casefold_set(l) AS rd_setof(list_transform(l, lambda x: rd_casefold_trim(x)));
CREATE OR REPLACE MACRO rd_dn_set(l) AS rd_setof(list_transform(l, lambda x: rd_dn_final(x)));

-- One value of one kind, for the drift query. Set kinds name the normalisation of
-- one of their elements.
CREATE OR REPLACE MACRO rd_norm(v, kind) AS
    CASE kind
        WHEN 'exact' THEN rd_exact(v)
        WHEN 'casefold' THEN rd_casefold(v)
        WHEN 'trim' THEN rd_trim(v)
        WHEN 'casefold_trim' THEN rd_casefold_trim(v)
        WHEN 'dn' THEN rd_dn_final(v)
        WHEN 'integer' THEN rd_integer(v)
        WHEN 'boolean' THEN rd_boolean(v)
        WHEN 'date' THEN rd_date(v)
        WHEN 'timestamp' THEN rd_timestamp(v)
        WHEN 'set' THEN rd_exact(v)
        WHEN 'casefold_set' THEN rd_casefold_trim(v)
        WHEN 'dn_set' THEN rd_dn_final(v)
    END;

-- The nine situations in the order of docs/design.md's table: a situation's rank
-- is its place here (classify/situations.sql), the order of situations.parquet, from
-- which results/situations_parquet.sql spells the situation again.
CREATE OR REPLACE MACRO rd_situations() AS
    ['linked', 'correlated', 'collision', 'ambiguous', 'unmatched', 'missing',
     'deleted_in_repository', 'excluded', 'duplicate_key'];

-- A CSV cell a spreadsheet will not run as a formula (recondiff/io/csvsafe.py has
-- the same rule): a value beginning with = + - @ TAB CR or ' gets one ' in
-- front; dropping one leading ' from every cell that has one restores it.
-- Spelled with contains(), not IN (...): DuckDB turns an IN list into a join,
-- and a COPY whose query joins writes its CSV in the order its threads finish;
-- without one, DuckDB writes it in parallel and in order (results/situations_csv.sql).
-- A NUL character (refused in CSV and LDIF exports, possible in a Parquet or
-- JSON Lines one) is written as U+2400 (the symbol for NUL): a raw NUL cuts
-- the cell short in C-based tools and spreadsheets.
CREATE OR REPLACE MACRO rd_no_nul(v) AS
    CASE WHEN contains(v, chr(0)) THEN replace(v, chr(0), chr(9216)) ELSE v END;
CREATE OR REPLACE MACRO rd_csv_cell(v) AS
    CASE WHEN v <> '' AND contains('=+-@''' || chr(9) || chr(13), left(v, 1))
         THEN '''' || v ELSE v END;
CREATE OR REPLACE MACRO rd_csv(v) AS rd_csv_cell(rd_no_nul(v));

-- A value as the report shows it (queries/report_*.sql; recondiff/report/render.py
-- shown() is the same rule for what the page takes from plan.json): a value of
-- more than 300 characters is cut to its first 200, followed by its length and
-- where the whole value is, so that one 20 MB cell never reaches Python or the
-- page; NUL as in rd_csv. strlen (bytes) is never less than length
-- (characters): the common short value costs one comparison.
CREATE OR REPLACE MACRO rd_shown(v) AS
    CASE WHEN strlen(v) <= 300 OR length(v) <= 300 THEN rd_no_nul(v)
         ELSE rd_no_nul(left(v, 200)) || '… [' || format('{:,}', length(v))
              || ' characters; the whole value is in the CSV files or the snapshot]' END;

-- The identity of a finding across runs (history): its situation (with the
-- sync state of a pair) and the folded keys of both sides.
CREATE OR REPLACE MACRO rd_finding(situation, sync, endpoint_key, identity_key) AS
    situation || coalesce(':' || sync, '')
    || '|' || coalesce(rd_key(endpoint_key), '') || '|' || coalesce(rd_key(identity_key), '');
-- A situations row is a finding unless it is excluded or a linked pair in sync.
CREATE OR REPLACE MACRO rd_is_finding(situation, sync) AS
    situation <> 'excluded' AND NOT (situation = 'linked' AND sync IS NOT DISTINCT FROM 'in_sync');

-- --- The action plan's events (plan/events.sql; docs/plan.md) ---------------
-- Events are written as canonical JSON by to_json over structs whose fields
-- are declared in sorted order. DuckDB spells a \u escape of a control
-- character in upper case where the canonical form has lower case; the writer
-- (recondiff/plan/file.py) re-encodes the rare line that holds one.

-- A value list without blanks (rd_blank) and repeats, in order.
CREATE OR REPLACE MACRO rd_clean(l) AS
    list_filter(l, lambda x, i: x IS NOT NULL AND NOT rd_blank(x) AND list_position(l, x) = i);
-- rd_clean of the one-value list [v], without the lambda: DuckDB runs a
-- lambda that reads its list row by row. The plan's 15,000 account rows at 1M
-- (13 attributes, 12 single-valued): 0.9 s -> 0.3 s.
CREATE OR REPLACE MACRO rd_clean_one(v) AS
    CASE WHEN v IS NULL OR rd_blank(v) THEN CAST([] AS VARCHAR[]) ELSE [v] END;
-- A list without repeats, in order.
CREATE OR REPLACE MACRO rd_dedupe(l) AS list_filter(l, lambda x, i: list_position(l, x) = i);

CREATE OR REPLACE MACRO rd_change(op, attribute, vals) AS
    {'attribute': attribute, 'op': op, 'values': CAST(vals AS VARCHAR[])};
CREATE OR REPLACE MACRO rd_pre(attribute, vals) AS
    {'attribute': attribute, 'values': CAST(vals AS VARCHAR[])};
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
-- (inside a change).
CREATE OR REPLACE MACRO rd_event_id(target, operation, key, dn, identity_key, member_key,
                                    member_dn, changes) AS
    'ev-' || sha256(array_to_string(
        [target, operation, coalesce(key, ''), coalesce(dn, ''), coalesce(identity_key, ''),
         coalesce(member_key, ''), coalesce(member_dn, '')]
        || list_transform(changes, lambda c: array_to_string([c.op, c.attribute] || c."values", chr(31))),
        chr(30)))[1:16];

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
