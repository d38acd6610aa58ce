-- Text: whitespace, blanks, Unicode normalisation and case folding, and the
-- folded form of keys and links. Every other macro builds on these.

-- Whitespace, everywhere in recondiff: ASCII whitespace (space, tab, LF, CR,
-- VT, FF) and every Unicode space separator (category Zs: NBSP, U+3000, ...),
-- as trim() strips them; not the line and paragraph separators U+2028 and
-- U+2029 (Zl, Zp), which trim() keeps, so the regular expression names Zs
-- alone: both paths strip the same characters (tests/test_normalise.py). A value that
-- begins and ends with a printable ASCII character has none to strip and is
-- returned as it is: trim() costs time even on those, the common case
-- (benchmarks/NOTES.md). Plain trim() strips spaces and the
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
         THEN regexp_replace(v, '^[\s\v\p{Zs}]+|[\s\v\p{Zs}]+$', '', 'g') ELSE trim(v) END;

-- A value that is empty or only whitespace is no value. Only values that start
-- with a control character, a space or a non-ASCII character are stripped to
-- find out.
CREATE OR REPLACE MACRO rd_blank(v) AS
    v = '' OR ((ascii(v) <= 32 OR ascii(v) >= 128) AND rd_strip(v) = '');

CREATE OR REPLACE MACRO rd_value(v) AS CASE WHEN rd_blank(v) THEN NULL ELSE v END;

-- Case folding: lower(upper(v)) folds what lower() alone leaves apart, such as
-- Greek final sigma (ς/σ/Σ). An ASCII value (as many bytes as characters)
-- needs only lower(), which halves the cost. The price of both shortcuts is
-- in planning: rd_norm's expansion grew (drift/differences.sql,
-- plan/drift_rules.sql and report/privileged.sql plan more slowly), and a
-- value that ends in a non-ASCII letter costs a little more to fold as a key.
-- (Measurements: benchmarks/NOTES.md.)
--
-- Unicode: text that looks the same is the same text. "josé" typed with a
-- composed é (U+00E9) and with e + U+0301 are one key, as LDAP matching
-- (RFC 4518) has them: a value that is not pure ASCII is put in Unicode
-- Normalisation Form C before folding. NFC of pure ASCII is itself, so an
-- ASCII value stays on its fast path (tests/test_normalise.py holds rd_nfc and
-- rd_fold equal to their plain spellings). The folded form may itself not be
-- NFC (upper-casing U+0390 gives three code points), but two canonically
-- equivalent values fold alike, which is all a comparison needs, and a
-- second nfc_normalize would only add cost (benchmarks/NOTES.md).
CREATE OR REPLACE MACRO rd_nfc(v) AS
    CASE WHEN strlen(v) = length(v) THEN v ELSE nfc_normalize(v) END;

CREATE OR REPLACE MACRO rd_fold(v) AS
    CASE WHEN strlen(v) = length(v) THEN lower(v)
         ELSE lower(upper(nfc_normalize(v))) END;

-- rd_fold of a value already in NFC (rd_dn's parts, cut from a DN put in NFC
-- whole: rd_dn_nfc): lower(upper(nfc_normalize(v))) is lower(upper(v)) there.
CREATE OR REPLACE MACRO rd_fold_nfc(v) AS
    CASE WHEN strlen(v) = length(v) THEN lower(v) ELSE lower(upper(v)) END;

-- Keys and links compare case-insensitively, trimmed.
CREATE OR REPLACE MACRO rd_key(v) AS nullif(rd_fold(rd_strip(v)), '');
