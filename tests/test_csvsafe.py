"""recondiff.io.csvsafe: formula injection neutralised, exactly reversible, spreadsheet round trips."""

from __future__ import annotations

import csv
import functools
from pathlib import Path

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recondiff.errors import InputError
from recondiff.io import csvsafe
from recondiff.io.sqlfiles import macros


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("'already quoted", "''already quoted"),
        (-1, "'-1"),
        (None, ""),
        ("", ""),
        ("jdoe", "jdoe"),
        (" =1+1", " =1+1"),
        ("a=b", "a=b"),
        ("CN=John Doe,OU=Staff", "CN=John Doe,OU=Staff"),
        (42, "42"),
    ],
)
def test_neutralise(value: object, cell: str) -> None:
    assert csvsafe.neutralise(value) == cell
    if isinstance(value, str):
        assert csvsafe.restore(cell) == value


@given(st.text(st.characters(blacklist_characters="\x00")))
def test_neutralise_is_safe_and_reversible(value: str) -> None:
    cell = csvsafe.neutralise(value)
    assert not cell.startswith(csvsafe.DANGEROUS)
    assert csvsafe.restore(cell) == value
    assert len(cell) - len(value) in (0, 1)


@given(st.text())
def test_no_raw_nul_in_a_cell(value: str) -> None:
    """A NUL is written as the symbol for NUL (U+2400), in Python and in SQL."""
    cell = csvsafe.neutralise(value)
    assert "\x00" not in cell
    assert csvsafe.restore(cell) == value.replace("\x00", csvsafe.NUL_SYMBOL)


def test_to_csv_lf_and_bom() -> None:
    text = csvsafe.to_csv(["a", "b"], [["=1", "x,y"], [None, "-2"]])
    assert text == "a,b\n'=1,\"x,y\"\n,'-2\n"
    assert csvsafe.to_csv(["a"], [], bom=True) == "\ufeffa\n"
    # a cell holding a CR or LF is quoted, as DuckDB's COPY does
    assert csvsafe.to_csv(["a", "b"], [["x\ry", "z\n"]]) == 'a,b\n"x\ry","z\n"\n'
    with pytest.raises(ValueError, match="row of 1 cells under a header of 2"):
        csvsafe.to_csv(["a", "b"], [["x"]])


def test_write_csv_is_atomic_and_utf8(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "out.csv"
    csvsafe.write_csv(path, ["name"], [["Zoë"]], bom=True)
    assert path.read_bytes() == "\ufeffname\nZoë\n".encode()
    assert [p.name for p in path.parent.iterdir()] == ["out.csv"]


HOSTILE = st.lists(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")),
    min_size=2,
    max_size=2,
)


@given(st.lists(HOSTILE, max_size=5), st.booleans())
def test_write_then_read_gives_the_values_back(rows: list[list[str]], bom: bool) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.csv"
        body = [["k", *row] for row in rows]
        csvsafe.write_csv(path, ["id", "a", "b"], body, bom=bom)
        table = csvsafe.read_csv(path)
    assert table.header == ["id", "a", "b"]
    assert [list(r.values()) for _, r in table.rows] == body
    assert [n for n, _ in table.rows] == list(range(2, len(rows) + 2))


def test_read_what_a_spreadsheet_saves(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_bytes("\ufeffB ;A;'C\r\n'=x;2\r\n;;\r\n\r\n5;6;7\r\n".encode())
    table = csvsafe.read_csv(path)
    assert table.header == ["B", "A", "C"]
    assert table.rows == [(2, {"B": "=x", "A": "2", "C": ""}), (5, {"B": "5", "A": "6", "C": "7"})]


def test_read_drops_empty_nameless_columns_at_the_right(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("a,b,,\r\n1,2,,\r\n3\r\n", encoding="utf-8")
    table = csvsafe.read_csv(path)
    assert table.header == ["a", "b"]
    assert table.rows == [(2, {"a": "1", "b": "2"}), (3, {"a": "3", "b": ""})]
    path.write_text("a,b,\r\n1,2,x\r\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"row 1, column 3 has no name; name it or delete it$"):
        csvsafe.read_csv(path)


def test_read_tabs_and_lf(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a\tb\n1\t2\n", encoding="utf-8")
    assert csvsafe.read_csv(path).rows == [(2, {"a": "1", "b": "2"})]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "t.csv: empty CSV file: it has no header row"),
        (b"a,,c\r\n", "t.csv: row 1, column 2 has no name; name it or delete it"),
        (b"a,A\r\n", "t.csv: row 1: column A appears twice; keep one"),
        (
            b"a,b\r\n1,2,3\r\n",
            "t.csv: row 2 has 3 cells but the header names 2 columns; remove the extra cells",
        ),
        (
            b'a,b\r\n"1"x,2\r\n',
            "t.csv: line 2: not readable as CSV (',' expected after '\"'); "
            "check the quotes on that line",
        ),
        (
            b"a\r\n\xff\r\n",
            "t.csv: line 2 is not UTF-8 (byte 3); save it as 'CSV UTF-8' and try again",
        ),
    ],
)
def test_read_refusals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("t.csv").write_bytes(content)
    with pytest.raises(InputError) as caught:
        csvsafe.read_csv(Path("t.csv"))
    assert str(caught.value) == message


def test_read_missing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.csv: no such sheet$"):
        csvsafe.read_csv(tmp_path / "nope.csv", what="sheet")


def test_a_neutralised_file_reads_as_text_in_the_csv_module(tmp_path: Path) -> None:
    """What a spreadsheet importer sees: no cell starts a formula."""
    path = tmp_path / "x.csv"
    csvsafe.write_csv(path, ["v"], [["=1+1"], ["@A1"], ["\t-3"]])
    with path.open(newline="", encoding="utf-8") as handle:
        cells = [row[0] for row in csv.reader(handle)]
    assert cells == ["v", "'=1+1", "'@A1", "'\t-3"]



@functools.cache
def _macros() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(macros())
    return con


@given(st.one_of(st.none(), st.text(), st.sampled_from(["=", "+1", "'", "\t", "\r", "@", "-"])))
def test_sql_rd_csv_is_the_python_rule(value: str | None) -> None:
    """queries/macros/output.sql rd_csv, which writes the CSV tables, neutralises as
    csvsafe.neutralise does (NULL stays NULL: an empty cell)."""
    row = _macros().execute("SELECT rd_csv(CAST($v AS VARCHAR))", {"v": value}).fetchone()
    assert row is not None
    assert (row[0] if row[0] is not None else "") == csvsafe.neutralise(value)


# Every ASCII character, and some that look like the dangerous ones or sit at
# the edges of encodings: fullwidth = + - @, BOM, NBSP, U+2400 itself, astral.
_LEADING = [chr(c) for c in range(128)] + [
    "\uff1d", "\uff0b", "\uff0d", "\uff20", "\ufeff", "\u00a0", "\u2400", "\U0001f600", "\u0301",
]


def test_sql_rd_csv_is_the_python_rule_for_every_leading_character_and_nul() -> None:
    """Each leading character alone, before text, before a NUL, after a NUL;
    NUL alone and inside a value: SQL and Python give the same cell."""
    values = [
        value
        for lead in _LEADING
        for value in (lead, lead + "x=1", lead + "\x00", "\x00" + lead, lead + lead)
    ] + ["\x00", "a\x00b", "\x00\x00", "=\x00", ""]
    row = _macros().execute(
        "SELECT list_transform(CAST($v AS VARCHAR[]), lambda x: rd_csv(x))", {"v": values}
    ).fetchone()
    assert row is not None
    assert row[0] == [csvsafe.neutralise(v) for v in values]


@given(st.sampled_from(_LEADING), st.text())
def test_sql_rd_csv_is_the_python_rule_after_any_leading_character(lead: str, rest: str) -> None:
    value = lead + rest
    row = _macros().execute("SELECT rd_csv(CAST($v AS VARCHAR))", {"v": value}).fetchone()
    assert row == (csvsafe.neutralise(value),)


def _line_ends(data: bytes) -> set[bytes]:
    """The line ends outside quoted cells (a cell may hold a line break)."""
    ends: set[bytes] = set()
    quoted = False
    for i, byte in enumerate(data):
        if byte == ord('"'):
            quoted = not quoted
        elif byte == ord("\n") and not quoted:
            ends.add(data[i - 1 : i + 1] if i and data[i - 1] == ord("\r") else b"\n")
    return ends


@pytest.mark.parametrize("bom", [False, True])
def test_every_csv_recondiff_writes_follows_one_convention(tmp_path: Path, bom: bool) -> None:
    """situations.csv, drift.csv, drift_diff.csv (DuckDB's COPY), the decisions
    sheet and the repository feed (csvsafe): LF line ends, UTF-8, and a BOM
    exactly when asked for ([report] csv_bom for compare, --bom for the plan
    commands, which read no config) (docs/outputs.md)."""
    import shutil

    from recondiff import review
    from recondiff.compare import compare
    from tests.conftest import SAMPLE

    shutil.copytree(SAMPLE, tmp_path / "sample")
    config = tmp_path / "sample" / "recondiff.toml"
    with config.open("a", encoding="utf-8") as handle:
        handle.write(f"\n[report]\ncsv_bom = {'true' if bom else 'false'}\n")
    out = tmp_path / "out"
    compare(config, out)
    review.export_decisions(out / "plan.jsonl", out / "decisions.csv", bom=bom)
    feed = review.write_feed(out / "plan.jsonl", out / "feed", bom=bom)
    files = [out / n for n in ("situations.csv", "drift.csv", "drift_diff.csv", "decisions.csv")]
    for path in [*files, feed.csv_path]:
        data = path.read_bytes()
        assert data.startswith(b"\xef\xbb\xbf") is bom, path.name
        assert not data[3:].startswith(b"\xef\xbb\xbf"), path.name
        assert _line_ends(data) == {b"\n"}, path.name
        assert data.endswith(b"\n") and data.decode("utf-8-sig"), path.name
    assert feed.rows > 0
