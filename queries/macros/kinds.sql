-- Normalisation, one macro per compare kind (docs/semantics.md, "Compare kinds").
--
-- Every kind maps "no value" (NULL, '', whitespace only, an empty list) to NULL,
-- so that two absent values compare equal with IS NOT DISTINCT FROM.
-- Scalar kinds take VARCHAR and return VARCHAR; set kinds take VARCHAR[] and
-- return a sorted, de-duplicated VARCHAR[] (or NULL when empty). The staging
-- queries call the specific macro for each attribute (fast); the drift query
-- calls rd_norm(value, kind), which dispatches to the very same macros, so the
-- hash that decides "in sync" and the drift rows can never disagree.

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
-- "never" (0, 2^63-1, or the word `never` explore writes for them) and empty are no value; text that is no instant compares trimmed.
CREATE OR REPLACE MACRO rd_when(v, fmt) AS
    CASE
        WHEN nullif(rd_strip(v), '') IS NULL OR rd_strip(v) IN ('0', '9223372036854775807')
             OR lower(rd_strip(v)) = 'never'
            THEN NULL
        ELSE coalesce(strftime(rd_instant(rd_strip(v)), fmt), rd_nfc(rd_strip(v)))
    END;

CREATE OR REPLACE MACRO rd_date(v) AS rd_when(v, '%Y-%m-%d');
CREATE OR REPLACE MACRO rd_timestamp(v) AS rd_when(v, '%Y-%m-%d %H:%M:%S');

-- uac_flags: AD's userAccountControl as the set of its flags. A value is a number
-- (decimal, negative as AD's signed 32-bit spelling, or 0x hex) or flag names
-- (NORMAL_ACCOUNT|DONT_EXPIRE_PASSWORD; any case; separated by | , + ; or spaces),
-- OR-ed together; it normalises to the names of its bits in bit order joined with
-- '|' (a bit with no name as 0x...; no bit at all as 'NONE'). Text that is none of
-- these compares trimmed, as integer does: a drift against any flag set.
-- The names are recondiff/vocabulary.py's UAC_FLAGS (tests/test_ad.py checks).
CREATE OR REPLACE MACRO rd_uac_table() AS [
    {'name': 'SCRIPT', 'bit': 1}, {'name': 'ACCOUNTDISABLE', 'bit': 2},
    {'name': 'HOMEDIR_REQUIRED', 'bit': 8}, {'name': 'LOCKOUT', 'bit': 16},
    {'name': 'PASSWD_NOTREQD', 'bit': 32}, {'name': 'PASSWD_CANT_CHANGE', 'bit': 64},
    {'name': 'ENCRYPTED_TEXT_PWD_ALLOWED', 'bit': 128},
    {'name': 'TEMP_DUPLICATE_ACCOUNT', 'bit': 256}, {'name': 'NORMAL_ACCOUNT', 'bit': 512},
    {'name': 'INTERDOMAIN_TRUST_ACCOUNT', 'bit': 2048},
    {'name': 'WORKSTATION_TRUST_ACCOUNT', 'bit': 4096},
    {'name': 'SERVER_TRUST_ACCOUNT', 'bit': 8192}, {'name': 'DONT_EXPIRE_PASSWORD', 'bit': 65536},
    {'name': 'MNS_LOGON_ACCOUNT', 'bit': 131072}, {'name': 'SMARTCARD_REQUIRED', 'bit': 262144},
    {'name': 'TRUSTED_FOR_DELEGATION', 'bit': 524288}, {'name': 'NOT_DELEGATED', 'bit': 1048576},
    {'name': 'USE_DES_KEY_ONLY', 'bit': 2097152}, {'name': 'DONT_REQ_PREAUTH', 'bit': 4194304},
    {'name': 'PASSWORD_EXPIRED', 'bit': 8388608},
    {'name': 'TRUSTED_TO_AUTH_FOR_DELEGATION', 'bit': 16777216},
    {'name': 'PARTIAL_SECRETS_ACCOUNT', 'bit': 67108864}
];

-- One token's bits, NULL when it is neither a number nor a flag name.
CREATE OR REPLACE MACRO rd_uac_token(tok) AS
    CASE
        WHEN regexp_full_match(tok, '-?[0-9]{1,10}')
             AND try_cast(tok AS BIGINT) BETWEEN -2147483648 AND 4294967295
            THEN try_cast(tok AS BIGINT) & 4294967295
        WHEN regexp_full_match(tok, '0X[0-9A-F]{1,8}') THEN try_cast(tok AS BIGINT)
        ELSE list_filter(rd_uac_table(), lambda f: f.name = tok)[1].bit
    END;

-- The bits of a value: NULL when any token is not a number or a flag name.
CREATE OR REPLACE MACRO rd_uac_list(v) AS
    list_transform(
        list_filter(string_split_regex(upper(rd_strip(v)), '[\s|,+;]+'), lambda s: s <> ''),
        lambda s: rd_uac_token(s));
CREATE OR REPLACE MACRO rd_uac_fold(bits) AS
    CASE WHEN len(bits) = 0 OR list_count(bits) < len(bits) THEN NULL
         ELSE list_aggregate(bits, 'bit_or') END;
CREATE OR REPLACE MACRO rd_uac_bits(v) AS rd_uac_fold(rd_uac_list(v));

CREATE OR REPLACE MACRO rd_uac_names(bits) AS
    CASE WHEN bits = 0 THEN 'NONE' ELSE
    array_to_string(
        list_transform(list_filter(rd_uac_table(), lambda f: (bits & f.bit) <> 0), lambda f: f.name)
        || CASE WHEN (bits & ~CAST(list_aggregate(list_transform(rd_uac_table(), lambda f: f.bit),
                                                  'bit_or') AS BIGINT)) <> 0
                THEN ['0x' || lower(hex(bits & ~CAST(list_aggregate(
                         list_transform(rd_uac_table(), lambda f: f.bit), 'bit_or') AS BIGINT)))]
                ELSE [] END,
        '|')
    END;

CREATE OR REPLACE MACRO rd_uac_flags(v) AS
    CASE
        WHEN rd_blank(v) THEN NULL
        WHEN rd_uac_bits(v) IS NULL THEN rd_nfc(rd_strip(v))
        ELSE rd_uac_names(rd_uac_bits(v))
    END;

-- dn: RFC 4514 canonical form.
-- 1. Escaped special characters (\, or \2c, \+ or \2b, ...) become private-use
--    placeholders, so that they survive splitting on the separators.
-- 2. Remaining hex escapes (UTF-8 bytes such as \c3\a9) are decoded; then any
--    other escaped character stands for itself.
-- 3. The text is put in NFC once, whole (rd_dn_nfc); RDNs split on ',', AVAs
--    on '+'; types lower-cased and trimmed, values trimmed and case-folded
--    (rd_fold_nfc: already NFC); the AVAs of a multi-valued RDN sorted.
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

-- NFC of a DN's text, whole, is NFC of each of its parts: the separators ','
-- and '+' compose with nothing and no code point's NFC holds one, so nothing
-- composes across them; '=' would ('=' U+0338 is U+2260), and is kept apart
-- meanwhile as U+FDD0 (a noncharacter: not meant for interchanged text, where
-- private-use characters are). Done once, before the cut, the parts need no NFC
-- in the lambdas that fold them: on Spark, NFC is a Python UDF, which a lambda
-- cannot call (docs/spark.md). A part cut from an NFC text and trimmed is NFC.
CREATE OR REPLACE MACRO rd_dn_nfc(s) AS
    replace(rd_nfc(replace(s, '=', chr(64976))), chr(64976), '=');

CREATE OR REPLACE MACRO rd_dn_ava(ava) AS
    lower(rd_strip(split_part(ava, '=', 1)))
    || '='
    || rd_fold_nfc(rd_strip(substr(ava, strpos(ava, '=') + 1)));

CREATE OR REPLACE MACRO rd_dn(v) AS
    CASE WHEN rd_trim(v) IS NULL THEN NULL ELSE
    replace(replace(replace(replace(replace(
        array_to_string(
            list_transform(
                string_split(rd_dn_nfc(rd_dn_unescape(rd_dn_protect(rd_strip(v)))), ','),
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
-- LDAP exports, and rd_dn is ten times slower on it (benchmarks/NOTES.md).
-- docs/semantics.md is unchanged; tests/test_normalise.py covers both paths.
-- Not plain either: '=' before a combining mark, which NFC of the whole would
-- compose with it once U+0338 is among the marks ('=' U+0338 is U+2260; NFC puts
-- U+0338, class 1, first): rd_dn keeps the separator apart (rd_dn_nfc).
CREATE OR REPLACE MACRO rd_dn_plain(v) AS NOT (
    contains(v, '\') OR contains(v, '+') OR contains(v, '"')
    OR contains(v, ' ,') OR contains(v, ', ') OR contains(v, ' =') OR contains(v, '= ')
    OR contains(v, chr(9)) OR contains(v, chr(10)) OR contains(v, chr(13))
    OR regexp_matches(v, '[\p{Z}],|,[\p{Z}]|[\p{Z}]=|=[\p{Z}]|=\p{M}'));

-- Escaped spaces are ordinary spaces once the surrounding ones were trimmed.
CREATE OR REPLACE MACRO rd_dn_final(v) AS
    CASE WHEN rd_dn_plain(v) THEN nullif(rd_fold(rd_strip(v)), '')
         ELSE replace(rd_dn(v), chr(57352), ' ') END;

-- Is value v a privileged group (recondiff/plan/privileged.py; docs/config.md,
-- privileged_groups)? A DN matches a DN of `dns` (both as dn), or its first RDN's
-- value matches a name of `names` (case-folded, trimmed); a value that is no DN
-- (no '=') matches a name itself.
CREATE OR REPLACE MACRO rd_first_rdn_value(n) AS
    replace(replace(replace(
        regexp_extract(n, '^[^=,]*=((?:[^,\\]|\\.)*)', 1),
        '\,', ','), '\+', '+'), '\\', '\');
-- A SID (tokenGroups, a CSV of group SIDs) matches a name entry that is that SID,
-- and a domain SID S-1-5-21-a-b-c-RID also an entry S-1-5-21-*-RID (any domain).
-- rd_privileged_norm takes `names` already rd_casefold_trim'd and `dns` already
-- rd_dn_final'd (plan/privileged.sql and report/privileged_default.sql normalise the
-- configured lists once): rd_dn_final inside a lambda over the list, or nested in
-- rd_casefold_trim, made DuckDB spend seconds planning each use (benchmarks/NOTES.md).
-- The one-element list_transform binds rd_dn_final(v) once, as a let would.
CREATE OR REPLACE MACRO rd_privileged_norm(v, names, dns) AS coalesce(
    CASE
        WHEN rd_blank(v) THEN false
        WHEN contains(v, '=') THEN list_transform([rd_dn_final(v)], lambda f:
            list_contains(dns, f)
            OR list_contains(names, rd_casefold_trim(rd_first_rdn_value(f))))[1]
        ELSE list_transform([rd_casefold_trim(v)], lambda c:
            list_contains(names, c)
            OR list_contains(names, regexp_replace(c, '^(s-1-5-21)-\d+-\d+-\d+-(\d+)$', '\1-*-\2')))[1]
    END, false);
CREATE OR REPLACE MACRO rd_privileged_names(names) AS
    list_transform(names, lambda n: rd_casefold_trim(n));
CREATE OR REPLACE MACRO rd_privileged_dns(dns) AS
    list_transform(dns, lambda d: rd_dn_final(d));
CREATE OR REPLACE MACRO rd_privileged(v, names, dns) AS
    rd_privileged_norm(v, rd_privileged_names(names), rd_privileged_dns(dns));

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
        WHEN 'uac_flags' THEN rd_uac_flags(v)
        WHEN 'set' THEN rd_exact(v)
        WHEN 'casefold_set' THEN rd_casefold_trim(v)
        WHEN 'dn_set' THEN rd_dn_final(v)
    END;
