"""The normalisation macros of queries/macros/ (text.sql, kinds.sql), one row per rule of
docs/semantics.md ("Compare kinds")."""

from __future__ import annotations

import itertools

import duckdb
import pytest

from recondiff.io.sqlfiles import macros


def norm(con: duckdb.DuckDBPyConnection, value: object, kind: str) -> object:
    return con.execute("SELECT rd_norm($v, $k)", {"v": value, "k": kind}).fetchone()[0]


Normed = dict[tuple[str, str | None], object]


def norm_all(con: duckdb.DuckDBPyConnection, pairs: list[tuple[str, str | None]]) -> Normed:
    """rd_norm of every (kind, value): one query per kind, the values a column, as
    the engine's queries read them (rd_norm is a large macro: each query that
    names it takes a while to plan, whatever its rows)."""
    found: Normed = {}
    for kind in sorted({k for k, _ in pairs}):
        values = [v for k, v in pairs if k == kind]
        rows = con.execute(
            "SELECT i, rd_norm(v, $k) FROM (SELECT generate_subscripts($vs::VARCHAR[], 1) AS i,"
            " unnest($vs::VARCHAR[]) AS v)",
            {"k": kind, "vs": values},
        ).fetchall()
        found.update({(kind, values[i - 1]): n for i, n in rows})
    return found


@pytest.fixture(scope="module")
def normed(con: duckdb.DuckDBPyConnection) -> Normed:
    """rd_norm of both sides of every row of EQUAL and DIFFERENT."""
    pairs = [(k, v) for k, a, b in EQUAL + DIFFERENT for v in (a, b)]
    return norm_all(con, pairs)


EQUAL = [
    ("exact", "Alice", "Alice"),
    ("exact", None, ""),
    ("exact", None, "   "),
    ("casefold", "Alice@Example.ORG", "alice@example.org"),
    ("casefold", "ÉMILE", "émile"),
    ("trim", "  Alice\t", "Alice"),
    ("casefold_trim", " ALICE ", "alice"),
    ("dn", r"cn=Smith\, J,OU=X", r"CN=smith\2c j, ou=x"),
    ("dn", "CN = A , OU = B , DC = example", "cn=a,ou=b,dc=example"),
    ("dn", "cn=a+sn=b,dc=x", "SN=B + CN=A,DC=X"),
    ("dn", r"cn=caf\c3\a9,o=x", "cn=CAFÉ,o=x"),
    ("dn", r"cn=a\20b,o=x", "cn=a b,o=x"),
    ("dn", r"cn=a\5cb,o=x", r"cn=a\\b,o=x"),
    ("dn", r"cn=say \"hi\",o=x", r"cn=say \22hi\22,o=x"),
    ("integer", "007", "7"),
    ("integer", "+7", " 7 "),
    ("integer", "0" * 39 + "7", "7"),
    ("trim", "Ann\u3000", "\u00a0Ann\u3000\t"),
    ("trim", "Ann", "\x0bAnn\x0c\x0b"),  # VT and FF are whitespace too
    ("exact", None, "\x0b"),
    ("exact", "\u3000", None),
    ("dn", "cn=g1\u00a0,ou=x", "cn=g1,ou=x"),
    ("boolean", "Yes", "TRUE"),
    ("boolean", "off", "0"),
    ("date", "2024-01-15", "20240115103000.0Z"),
    ("date", "20240115", "2024-01-15"),
    ("date", "133499664000000000", "2024-01-17"),  # 2024-01-17 12:00 UTC
    ("date", "2024-01-15T23:30:00-02:00", "2024-01-16"),
    ("date", "0", None),
    ("date", "9223372036854775807", ""),
    ("timestamp", "20240115103000.0Z", "2024-01-15T10:30:00Z"),
    ("timestamp", "20240115123000+0200", "2024-01-15T10:30:00+00:00"),
    # One text, composed (U+00E9) or decomposed (e + U+0301): NFC before folding.
    ("exact", "jos\u00e9", "jose\u0301"),
    ("casefold", "JOS\u00c9", "jose\u0301"),
    ("trim", " jos\u00e9", "jose\u0301 "),
    ("casefold_trim", " JOSE\u0301", "jos\u00e9"),
    ("dn", "cn=Jos\u00e9,ou=x", "CN=JOSE\u0301,OU=X"),
    ("dn", "cn=Jos\u00e9 A,ou=x", "cn=jose\u0301 a , ou=x"),
    ("dn", "cn=Jos\u00e9\\, A,ou=x", "cn=jose\u0301\\2c a,ou=x"),
    ("set", "\u212b", "\u00c5"),  # ANGSTROM SIGN is canonically A with ring
    ("integer", "n\u0303", "\u00f1"),
    ("date", "ma\u00f1ana", "man\u0303ana"),
]

DIFFERENT = [
    ("exact", "jos\u00e9", "Jos\u00e9"),
    ("exact", "\ufb01", "fi"),  # NFC, not NFKC: a ligature stays a ligature
    # RFC 1779 forms are not rewritten (docs/semantics.md, Inputs: LDIF)
    ("dn", "UID=jsmith;O=example;C=US", "uid=jsmith,o=example,c=us"),
    ("dn", 'CN="John Smith",O=example', "cn=john smith,o=example"),
    ("exact", "Alice", "alice"),
    ("exact", "Alice", "Alice "),
    ("casefold", "alice", " alice"),
    ("trim", "Alice", "alice"),
    ("dn", r"cn=a\,b,o=x", "cn=a,cn=b,o=x"),
    ("dn", "cn=a,o=x", "cn=b,o=x"),
    ("integer", "7", "8"),
    ("integer", "7.5", "8"),
    ("integer", "1e3", "1000"),
    ("boolean", "yes", "no"),
    ("date", "2024-01-15", "2024-01-16"),
    ("date", "0", "2024-01-16"),
    ("timestamp", "2024-01-15T10:30:00Z", "2024-01-15T10:30:01Z"),
]


@pytest.mark.parametrize(("kind", "a", "b"), EQUAL)
def test_equal_after_normalisation(normed: Normed, kind: str, a: str, b: str) -> None:
    assert normed[kind, a] == normed[kind, b]


@pytest.mark.parametrize(("kind", "a", "b"), DIFFERENT)
def test_different_after_normalisation(normed: Normed, kind: str, a: str, b: str) -> None:
    assert normed[kind, a] != normed[kind, b]


def test_dn_canonical_form_is_readable(con: duckdb.DuckDBPyConnection) -> None:
    assert (
        norm(con, r"CN=Smith\2C J, OU=Sales , DC=Example", "dn")
        == r"cn=smith\, j,ou=sales,dc=example"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # NFC is done once, on the whole text (rd_dn_nfc), and is the NFC of each part:
        # a combining mark after a separator stays the value's own first character
        ("cn=\u0301a,ou=X", "cn=\u0301a,ou=x"),
        ("cn=e\u0301,ou=X+sn=o\u0308", "cn=\u00e9,ou=x+sn=\u00f6"),
        # '=' followed by U+0338 would compose into U+2260 (NOT EQUAL TO)
        ("cn=\u0338x,ou=Y", "cn=\u0338x,ou=y"),
        # ... also after another mark: NFC puts U+0338 (class 1) first
        ("cn=\u0323\u0338x,o=Y", "cn=\u0338\u0323x,o=y"),
        # escaped, composed through the hex escape (UTF-8 of U+0301 is CC 81)
        ("cn=e\\CC\\81 ,ou=Y", "cn=\u00e9,ou=y"),
    ],
)
def test_dn_parts_are_nfc_once(con: duckdb.DuckDBPyConnection, value: str, expected: str) -> None:
    assert norm(con, value, "dn") == expected


@pytest.mark.parametrize(
    ("macro", "values", "expected"),
    [
        ("rd_set", ["b", "a", "b", "", None], ["a", "b"]),
        ("rd_set", [], None),
        ("rd_set", ["  "], None),
        ("rd_casefold_set", ["B ", "b", "A"], ["a", "b"]),
        ("rd_dn_set", ["CN=G1, OU=Groups", "cn=g1,ou=groups"], ["cn=g1,ou=groups"]),
    ],
)
def test_set_kinds(
    con: duckdb.DuckDBPyConnection, macro: str, values: list[str | None], expected: list[str] | None
) -> None:
    # The macro name comes from the parametrize table above, not from input.
    sql = {
        "rd_set": "SELECT rd_set($v::VARCHAR[])",
        "rd_casefold_set": "SELECT rd_casefold_set($v::VARCHAR[])",
        "rd_dn_set": "SELECT rd_dn_set($v::VARCHAR[])",
    }[macro]
    assert con.execute(sql, {"v": values}).fetchone()[0] == expected


def test_keys_fold_case_and_trim(con: duckdb.DuckDBPyConnection) -> None:
    assert con.execute("SELECT rd_key(' JDoe ')").fetchone()[0] == "jdoe"
    composed = con.execute("SELECT rd_key('Jos\u00e9')").fetchone()[0]
    assert composed == con.execute("SELECT rd_key('JOSE\u0301 ')").fetchone()[0] == "jos\u00e9"
    # a case mapping that leaves NFC: both spellings still fold alike
    greek = con.execute("SELECT rd_key('\u0390'), rd_key('\u03b9\u0308\u0301')").fetchone()
    assert greek[0] == greek[1]
    assert con.execute("SELECT rd_key('   ')").fetchone()[0] is None


def test_whitespace_is_one_set_whichever_path_strips(con: duckdb.DuckDBPyConnection) -> None:
    """rd_strip strips the same characters whether trim() does it (no ASCII
    control whitespace in the value) or the regular expression does (a tab in
    it): every Unicode space separator (Zs), never the line and paragraph
    separators U+2028 and U+2029 (docs/semantics.md, "No value"). The
    expression once named all of Z, so '\u2028x\t' became 'x' but
    '\u2028x ' kept its U+2028."""
    import unicodedata

    separators = [c for c in map(chr, range(0x3001))
                  if unicodedata.category(c) in ("Zs", "Zl", "Zp")]
    assert {"\u00a0", "\u2028", "\u2029", "\u3000"} <= set(separators)
    for c in separators:
        kept = "x" if unicodedata.category(c) == "Zs" else c + "x"
        for tail in ("", " ", "\t", "\n", "\x0b", "\u00a0"):
            got = con.execute("SELECT rd_strip(?)", [c + "x" + tail]).fetchone()[0]
            assert got == kept, (hex(ord(c)), repr(tail), got)


# What rd_strip and rd_fold (queries/macros/text.sql) are, spelled without their
# shortcuts for values that begin and end with printable ASCII (nothing to
# strip) and for ASCII values (lower() alone folds them).
PLAIN_STRIP = (
    "CASE WHEN contains(v, chr(9)) OR contains(v, chr(10)) OR contains(v, chr(13))"
    " OR contains(v, chr(11)) OR contains(v, chr(12))"
    " THEN regexp_replace(v, '^[\\s\\v\\p{Zs}]+|[\\s\\v\\p{Zs}]+$', '', 'g') ELSE trim(v) END"
)
PLAIN_FOLD = "lower(upper(nfc_normalize(v)))"
PLAIN_NFC = "nfc_normalize(v)"

# The characters where a shortcut could go wrong: ASCII at both ends of the
# printable range and just outside it, every whitespace, Unicode separators,
# letters whose case folding needs upper() first, combining marks.
TRICKY = [
    " ",
    "\t",
    "\n",
    "\r",
    "\x0b",
    "\x0c",
    "\x1f",
    "\x00",
    "!",
    "~",
    "\x7f",
    "\x80",
    "\x85",
    "\u00a0",
    "\u1680",
    "\u2000",
    "\u2028",
    "\u202f",
    "\u3000",
    "\ufeff",
    "a",
    "Z",
    "0",
    "ς",
    "σ",
    "Σ",
    "ß",
    "İ",
    "ı",
    "É",
    "é",
    "e\u0301",
    "\u0301",
    "Ǆ",
    "ﬁ",
    "😀",
    "\r\n",
    "E",
    "\u0327",
    "\u1e9b",
    "\u0390",
    "\u212b",
    "\uac00",
    "\u1100",
    "\u1161",
]


def test_shortcuts_equal_the_plain_spelling() -> None:
    """Every text of up to three TRICKY pieces (93,196)."""
    values = [""] + ["".join(p) for n in (1, 2, 3) for p in itertools.product(TRICKY, repeat=n)]
    c = duckdb.connect()
    c.execute(macros())
    wrong = c.execute(
        f"""
        SELECT v FROM (
            SELECT v, rd_strip(v) AS strip, {PLAIN_STRIP} AS plain_strip,
                   rd_fold(v) AS fold, {PLAIN_FOLD} AS plain_fold,
                   rd_nfc(v) AS nfc, {PLAIN_NFC} AS plain_nfc
            FROM unnest($values::VARCHAR[] || [NULL]) t(v)
        )
        WHERE strip IS DISTINCT FROM plain_strip OR fold IS DISTINCT FROM plain_fold
           OR nfc IS DISTINCT FROM plain_nfc
        """,
        {"values": values},
    ).fetchall()
    assert wrong == []


def test_norm_of_equals_rd_norm_for_the_kinds_it_is_given(con: duckdb.DuckDBPyConnection) -> None:
    """engine/slots.norm_of spells rd_norm for a config's kinds only (planning
    rd_norm's thirteen branches cost ~0.2 s a query): on every value of the rule
    table above, with the kinds of the rows mixed in one column as drift reads
    them, it gives rd_norm's answer; a kind left out fails, never a NULL."""
    from recondiff.engine.slots import ELEMENT_MACRO, norm_of

    rows = [(k, v) for k, a, b in EQUAL + DIFFERENT for v in (a, b)]
    rows += [(k, None) for k in ELEMENT_MACRO] + [(None, "x")]  # type: ignore[list-item]
    values = {"ks": [k for k, _ in rows], "vs": [v for _, v in rows]}
    table = "SELECT unnest($ks::VARCHAR[]) AS compare, unnest($vs::VARCHAR[]) AS raw"
    for kinds in (list(ELEMENT_MACRO), sorted({k for k, _ in rows if k})):
        got = con.execute(
            f"SELECT {norm_of('raw', 'compare', kinds)} IS NOT DISTINCT FROM rd_norm(raw, compare)"
            f" FROM ({table})",
            values,
        ).fetchall()
        assert all(ok for (ok,) in got)
    with pytest.raises(
        duckdb.InvalidInputException, match="a compare kind this config does not use: "
    ):
        con.execute(
            f"SELECT {norm_of('raw', 'compare', ['exact'])} FROM ({table})", values
        ).fetchall()
