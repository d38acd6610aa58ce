"""Red team of the raw staging hash (issue 19, commit ff2ba62): the staging hash
(recondiff/engine/slots.py, ``hashed``) takes the text kinds nearly raw now
(exact and trim: the text with '' as NULL; casefold and casefold_trim: lower() of
an ASCII value, the raw text otherwise) where it took their normal forms. Equal
hashes mean "in sync" without looking at any attribute, so a hash input that is
equal for two values whose normal forms differ would hide drift.

Found by differential testing: 24 generated datasets (300 to 600 linked and
correlated pairs each, every compare kind, '' / NULL / whitespace-only, ASCII and
Unicode spaces, Kelvin sign, Turkish dotted and dotless i, sharp s, final sigma,
the fi ligature, titlecase digraphs, NFC/NFD, single-valued kinds over list
columns and mixed shapes, derived endpoint_sql/repository_sql sides) run through
the code before the change (6eef896) and after it: situations.parquet/csv,
drift.parquet/csv, drift_diff.csv, plan.jsonl, summary.json and report.json equal,
as on ten tests/cases inputs (policies, derived, LDIF, CSV, Unicode whitespace)
(timestamps, run ids and digests aside). A property check over 111,000 generated
values (every character whose case, NFC or whitespace status is special) and
40,000 lists found no two hash inputs alike whose normal forms differ.

What the change cost at first: a value whose spelling differs but normalises
alike (padding under trim, whitespace-only against none, NFD, non-ASCII case)
became a drift candidate, and one such attribute on every record made every pair
one. The hash now settles padding and blanks itself; the test at the end holds
it (NFD and non-ASCII case remain drift candidates, rare in exports). The other
tests pass on both versions and pin what docs/semantics.md asks for.
"""

from __future__ import annotations

import random
import unicodedata
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recondiff.compare import compare
from recondiff.engine.slots import Column, hashed, normalised

TEXT_KINDS = ["exact", "trim", "casefold", "casefold_trim"]
SCALAR_KINDS = [*TEXT_KINDS, "dn", "integer", "boolean", "date", "timestamp", "uac_flags"]
SET_KINDS = ["set", "casefold_set", "dn_set"]


def _special_characters() -> list[str]:
    """Every BMP character whose case mapping, NFC form, category (spaces, marks,
    controls, format characters) or case folding is anything but plain."""
    out = []
    for cp in range(0x10000):
        if 0xD800 <= cp < 0xE000:
            continue
        c = chr(cp)
        cat = unicodedata.category(c)
        if (cat.startswith("Z") or cat in ("Cc", "Cf", "Mn") or c.lower() != c
                or c.upper() != c or unicodedata.normalize("NFC", c) != c
                or c.casefold() != c.lower()):
            out.append(c)
    return out


def _values() -> list[str | None]:
    rng = random.Random(19)
    special = _special_characters()
    plain = ["", " ", "\t", "\u00a0", "a", "A", "k", "K", "i", "I", "s", "S", "ss", "fi",
             "abc", "ABC", "0", "007", "1", "true", "never", "cn=a,dc=x", "CN=A, DC=x"]
    values: set[str] = set(plain) | set(special)
    for _ in range(8000):
        s = "".join(rng.choice(special) if rng.random() < 0.4 else rng.choice(plain)
                    for _ in range(rng.choice([1, 2, 3])))
        values |= {s, s.upper(), s.lower(), s.casefold(), unicodedata.normalize("NFD", s),
                   unicodedata.normalize("NFC", s), " " + s, s + "\u00a0"}
    return [*sorted(values), None]


def _collisions(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    """Hash inputs shared by values of different normal forms (``sql`` gives h, n, v)."""
    return con.execute(
        f"SELECT h, list(DISTINCT CAST(n AS VARCHAR))[:3], list(v)[:4] FROM ({sql}) "
        "GROUP BY h HAVING count(DISTINCT coalesce(CAST(n AS VARCHAR), '<none>')) > 1 LIMIT 3"
    ).fetchall()


@pytest.fixture(scope="module")
def pools(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    values = _values()
    rng = random.Random(4)
    lists: list[list[str | None] | None] = [
        [rng.choice(values) for _ in range(rng.choice([0, 1, 2, 3]))] for _ in range(20000)
    ]
    lists += [None, [], [None], [""], [" "], ["a", None], [None, "a"], ["a", ""], ["", "a"]]
    con.execute("CREATE OR REPLACE TABLE single AS SELECT unnest($v::VARCHAR[]) AS v",
                {"v": values})
    con.execute("CREATE OR REPLACE TABLE multi AS SELECT unnest($v::VARCHAR[][]) AS v",
                {"v": lists})
    return con


@pytest.mark.parametrize("kind", SCALAR_KINDS)
def test_single_values_hash_alike_only_when_they_normalise_alike(
    pools: duckdb.DuckDBPyConnection, kind: str
) -> None:
    column = Column("v", "VARCHAR")
    sql = f"SELECT {hashed(column, kind)} AS h, {normalised(column, kind)} AS n, v FROM single"
    assert _collisions(pools, sql) == []


@pytest.mark.parametrize("kind", [*TEXT_KINDS, "dn", *SET_KINDS])
def test_lists_hash_alike_only_when_they_normalise_alike(
    pools: duckdb.DuckDBPyConnection, kind: str
) -> None:
    column = Column("v", "VARCHAR[]")
    sql = f"SELECT {hashed(column, kind)} AS h, {normalised(column, kind)} AS n, v FROM multi"
    assert _collisions(pools, sql) == []


@pytest.mark.parametrize("kind", [*TEXT_KINDS, "dn"])
def test_a_list_and_a_single_value_hash_alike_only_when_they_normalise_alike(
    pools: duckdb.DuckDBPyConnection, kind: str
) -> None:
    """A single-valued kind over a list column on one side (its values joined with
    ';') against a plain column on the other."""
    one, many = Column("v", "VARCHAR"), Column("v", "VARCHAR[]")
    sql = (
        f"SELECT {hashed(one, kind)} AS h, {normalised(one, kind)} AS n, [v] AS v FROM single "
        f"UNION ALL SELECT {hashed(many, kind)}, {normalised(many, kind)}, v FROM multi"
    )
    assert _collisions(pools, sql) == []


def test_the_ascii_test_is_bytes_against_characters(con: duckdb.DuckDBPyConnection) -> None:
    """The folding kinds lower-case a value only when strlen (bytes) = length
    (characters): the Kelvin sign K (U+212A) lower-cases to an ASCII 'k' and must
    not be taken as ASCII; a decomposed é counts two characters, not one grapheme."""
    got = con.execute(
        "SELECT strlen(k) = length(k), lower(k), strlen(e) = length(e), length(e), "
        "strlen(crlf) = length(crlf) "
        "FROM (SELECT chr(8490) AS k, 'e' || chr(769) AS e, chr(13) || chr(10) AS crlf)"
    ).fetchone()
    assert got == (False, "k", False, 2, True)


# Each row: one linked pair, one attribute, both sides' values, drifts or not
# (docs/semantics.md: no value, whitespace, NFC, case folding). Both versions agree.
PAIRS: list[tuple[str, object, object, bool]] = [
    ("exact", "", None, False),
    ("exact", " ", None, False),
    ("exact", "\t", "\u00a0", False),
    ("exact", "\u3000", "", False),
    ("exact", "a", "a ", True),
    ("exact", "a", "A", True),
    ("exact", "\u00e9", "e\u0301", False),
    ("exact", "\u212a", "K", False),  # Kelvin sign: NFC is K
    ("exact", "\u212b", "\u00c5", False),  # Angstrom sign: NFC is Å
    ("exact", "\ufb01", "fi", True),  # compatibility forms stay apart
    ("exact", "\u200b", None, True),  # a zero-width space is no whitespace
    ("trim", " a", "a\u00a0", False),
    ("trim", "a\t", "a", False),
    ("trim", "  ", None, False),
    ("trim", "a b", "a  b", True),
    ("trim", " Jose\u0301 ", "Jos\u00e9", False),
    ("casefold", "\u212aelvin", "kelvin", False),
    ("casefold", "\u212aelvin", "KELVIN", False),
    ("casefold", "\u0131", "I", False),  # dotless i upper-cases to I
    ("casefold", "\u0130", "i", False),
    ("casefold", "stra\u00dfe", "STRASSE", True),  # no full case folding: ß is not ss
    ("casefold", "\u1e9e", "\u00df", False),
    ("casefold", "\u039f\u03a3", "\u03bf\u03c2", False),  # final sigma
    ("casefold", "\u01c5", "\u01c6", False),
    ("casefold", " a", "a", True),  # casefold keeps blanks
    ("casefold", " ", "", False),
    ("casefold", "Jane@Example.org", "jane@example.org", False),
    ("casefold", "JOS\u00c9", "jose\u0301", False),
    ("casefold_trim", " JOS\u00c9\u00a0", "jose\u0301", False),
    ("casefold_trim", "\u212aELVIN ", "kelvin", False),
    ("casefold_trim", "\ufb01le", "FILE", True),
    ("casefold_trim", "\t", None, False),
    ("dn", "CN=\u212a,DC=x", "cn=k,dc=x", False),
    ("dn", "CN=A, DC=x", "cn=a,dc=x", False),
    ("integer", "007", "+7", False),
    ("boolean", "yes", " TRUE ", False),
    ("date", "2024-01-02", "20240102", False),
    ("date", "never", "0", False),
    ("set", ["a", "a"], ["a"], False),
    ("set", ["\u00e9"], ["e\u0301"], False),
    ("set", [" "], None, False),
    ("set", ["a"], ["A"], True),
    ("casefold_set", ["a", " b"], ["B", "\u212a", "A"], True),
    ("casefold_set", ["a", " b", "k"], ["B", "\u212a", "A"], False),
    ("dn_set", ["CN=\u212a,DC=x"], ["cn=k, dc=x"], False),
    # single-valued kinds over list columns: the values joined with ';'
    ("exact", ["a", "b"], ["a;b"], False),
    ("casefold", ["A", "\u212a"], ["a;k"], False),
    ("trim", [" a"], ["a "], False),
]


def _write(path: Path, rows: dict[str, list[object]], lists: set[str]) -> None:
    pq.write_table(
        pa.table({name: pa.array(values, pa.list_(pa.string()) if name in lists else pa.string())
                  for name, values in rows.items()}),
        path,
    )


def test_tricky_spellings_drift_exactly_as_their_normal_forms_differ(tmp_path: Path) -> None:
    kinds = sorted({k for k, *_ in PAIRS})
    ep: dict[str, list[object]] = {"k": []}
    repo: dict[str, list[object]] = {"id": [], "acct": []}
    lists = set()
    for kind in kinds:
        for side in (ep, repo):
            side[f"{kind}_s"] = []
            side[f"{kind}_l"] = []
        lists |= {f"{kind}_l"}
    for i, (kind, e, r, _) in enumerate(PAIRS):
        ep["k"].append(f"u{i}")
        repo["id"].append(f"E{i}")
        repo["acct"].append(f"U{i}")  # linked, whatever the case
        shape = "_l" if isinstance(e, list) or isinstance(r, list) else "_s"
        for name in ep:
            if name != "k":
                ep[name].append(e if name == f"{kind}{shape}" else None)
        for name in repo:
            if name not in ("id", "acct"):
                repo[name].append(r if name == f"{kind}{shape}" else None)
    _write(tmp_path / "endpoint.parquet", ep, lists)
    _write(tmp_path / "repository.parquet", repo, lists)
    attributes = "".join(
        f'[[attribute]]\nendpoint = "{kind}{shape}"\nrepository = "{kind}{shape}"\n'
        f'compare = "{kind}"\n'
        for kind in kinds for shape in ("_s", "_l")
        if shape == "_s" or kind in SET_KINDS or kind in ("exact", "casefold", "trim")
    )
    config = tmp_path / "recondiff.toml"
    config.write_text(
        '[endpoint]\nname = "t"\nsnapshot = "endpoint.parquet"\nkey = "k"\n'
        '[repository]\nsnapshot = "repository.parquet"\nkey = "id"\nlink = "acct"\n'
        + attributes,
        encoding="utf-8",
    )
    compare(config, tmp_path / "out")
    con = duckdb.connect()
    got = dict(con.execute(
        f"SELECT endpoint_key, sync FROM read_parquet('{tmp_path / 'out' / 'situations.parquet'}')"
    ).fetchall())
    drifted = {k for (k,) in con.execute(
        f"SELECT DISTINCT endpoint_key FROM read_parquet('{tmp_path / 'out' / 'drift.parquet'}')"
    ).fetchall()}
    want = {f"u{i}": "drifted" if d else "in_sync" for i, (*_, d) in enumerate(PAIRS)}
    wrong = {
        (PAIRS[int(k[1:])][:3], got.get(k)) for k in want if got.get(k) != want[k]
    }
    assert wrong == set()
    assert drifted == {k for k, v in want.items() if v == "drifted"}


def test_derived_sides_hash_like_columns(tmp_path: Path) -> None:
    """A derived side (endpoint_sql/repository_sql) enters the hash as its value
    does: u1's upper-cased non-ASCII value is in sync with an NFD spelling under
    casefold, u2's NBSP-padded one under trim, u3's derived list under exact
    (joined with ';'); every other cell drifts."""
    pq.write_table(pa.table({
        "k": ["u1", "u2", "u3", "u4"],
        "v": ["jos\u00e9", "Jane", "a", "x"],
    }), tmp_path / "endpoint.parquet")
    pq.write_table(pa.table({
        "id": ["E1", "E2", "E3", "E4"], "acct": ["u1", "u2", "u3", "u4"],
        "w": ["JOSE\u0301", "Jane", "a;b", "y"],
    }), tmp_path / "repository.parquet")
    (tmp_path / "recondiff.toml").write_text(
        '[endpoint]\nname = "t"\nsnapshot = "endpoint.parquet"\nkey = "k"\n'
        '[repository]\nsnapshot = "repository.parquet"\nkey = "id"\nlink = "acct"\n'
        '[[attribute]]\nname = "folded"\nendpoint_sql = "upper(v)"\nrepository = "w"\n'
        'compare = "casefold"\non_drift = "do_nothing"\n'
        '[[attribute]]\nname = "padded"\nendpoint = "v"\nrepository_sql = "w || chr(160)"\n'
        'compare = "trim"\non_drift = "do_nothing"\n'
        '[[attribute]]\nname = "listed"\nendpoint_sql = "[v, \'b\']"\nrepository = "w"\n'
        'compare = "exact"\non_drift = "do_nothing"\n',
        encoding="utf-8",
    )
    compare(tmp_path / "recondiff.toml", tmp_path / "out")
    rows = duckdb.connect().execute(
        f"SELECT endpoint_key, attribute FROM read_parquet('{tmp_path / 'out' / 'drift.parquet'}') "
        "ORDER BY ALL"
    ).fetchall()
    assert rows == [
        ("u1", "listed"), ("u1", "padded"),
        ("u2", "listed"),
        ("u3", "folded"), ("u3", "padded"),
        ("u4", "folded"), ("u4", "listed"), ("u4", "padded"),
    ]


# Cost, not correctness: with ff2ba62's raw text hash, an export that pads a
# trim/casefold_trim column (a fixed-width HR file) or writes ' ' for no value sent
# every pair to drift/differences.sql (1M, first_name padded by one space: CPU
# 14.6 -> 43.8 s, drift 1.9 -> 71.5 s, peak RSS 647 -> 1,138 MB). The hash now
# strips what trim() strips and takes a blank as no value (slots._text_hashed).
@pytest.mark.parametrize(
    ("kind", "a", "b"),
    [("trim", "Jane ", "Jane"), ("casefold_trim", " SALES", "sales"), ("exact", " ", None),
     ("casefold", "\u00a0", ""), ("trim", "\u3000Jane\u00a0", "Jane"),
     ("casefold_trim", "\u00a0SALES ", "Sales")],
)
def test_padded_spellings_are_settled_by_the_stage_hash(
    con: duckdb.DuckDBPyConnection, kind: str, a: str, b: str | None
) -> None:
    column = Column("v", "VARCHAR")
    got = con.execute(
        f"SELECT {hashed(column, kind)} IS NOT DISTINCT FROM "
        f"(SELECT {hashed(column, kind)} FROM (SELECT $b::VARCHAR AS v)) "
        "FROM (SELECT $a::VARCHAR AS v)",
        {"a": a, "b": b},
    ).fetchone()
    assert got == (True,)
