"""Property tests: generated LDIF and CSV round-trip; garbage only ever raises InputError."""

from __future__ import annotations

import base64
import codecs
import csv
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recondiff.errors import InputError
from recondiff.ingest.exports import ReadOptions, read_export, read_snapshot_info
from recondiff.ingest.ldif import parse_ldif

SETTINGS = settings(
    # RECONDIFF_HYPOTHESIS_EXAMPLES=3000 for a deeper search than the default quick run.
    max_examples=int(os.environ.get("RECONDIFF_HYPOTHESIS_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Every character but surrogates; control characters included.
ANY_CHAR = st.characters(blacklist_categories=("Cs",))
# Text an attribute value can hold: no control characters but tab, CR and LF
# (other control characters mark a base64 value as binary).
VALUE_CHAR = st.one_of(
    st.characters(blacklist_categories=("Cs", "Cc")),
    st.sampled_from(" \t\n\r:<#,;\"'=\\"),
)
RESERVED = {"dn", "changetype", "control", "version"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hypothesis")


# --------------------------------------------------------------------------- LDIF

attribute_names = (
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,8}(;lang-[a-z]{2})?", fullmatch=True)
    .filter(lambda name: name.lower() not in RESERVED | {"jpegphoto"})
    .filter(lambda name: not name.lower().endswith(";binary"))
)
values = st.text(VALUE_CHAR, max_size=30)


@st.composite
def entries(draw: st.DrawFn) -> tuple[str, dict[str, list[str]]]:
    dn = draw(values)
    names = draw(st.lists(attribute_names, max_size=5, unique_by=str.lower))
    attributes = {name: draw(st.lists(values, min_size=1, max_size=3)) for name in names}
    return dn, attributes


def _needs_base64(value: str) -> bool:
    return value.startswith((" ", ":", "<")) or "\n" in value or "\r" in value


def _fold(line: str, width: int) -> list[str]:
    """Fold a logical line: the first piece, then pieces each prefixed by one space."""
    if width >= len(line):
        return [line]
    pieces = [line[:width]]
    pieces += [" " + line[i : i + width] for i in range(width, len(line), width)]
    return pieces


@st.composite
def ldif_documents(draw: st.DrawFn) -> tuple[str, list[tuple[str, dict[str, list[str]]]]]:
    """An LDIF text and the entries it must read back as."""
    records = draw(st.lists(entries(), min_size=1, max_size=4))
    binary = draw(st.binary(min_size=1, max_size=12))
    photo = base64.b64encode(b"\xff" + binary).decode()  # never UTF-8: stays base64
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines: list[str] = []

    def comment() -> None:
        if draw(st.integers(0, 5)) == 0:
            text = "#" + draw(st.text(VALUE_CHAR.filter(lambda c: c not in "\r\n"), max_size=20))
            lines.extend(_fold(text, draw(st.integers(1, 12))))

    def emit(attr: str, value: str) -> None:
        if _needs_base64(value) or draw(st.booleans()):
            line = f"{attr}:: {base64.b64encode(value.encode()).decode()}"
        else:
            line = f"{attr}:{draw(st.sampled_from(['', ' ', '  ']))}{value}"
        lines.extend(_fold(line, draw(st.integers(1, 80))))
        comment()

    if draw(st.booleans()):
        lines.extend(["version: 1", ""])
    expected = []
    for index, (dn, attributes) in enumerate(records):
        comment()
        emit("dn", dn)
        if index == 0 and draw(st.booleans()):
            emit("changetype", "add")
        for attr, vals in attributes.items():
            for value in vals:
                emit(attr, value)
        attributes = dict(attributes)
        if draw(st.booleans()):
            lines.extend(_fold(f"jpegPhoto:: {photo}", draw(st.integers(1, 40))))
            attributes["jpegPhoto"] = [photo]
        expected.append((dn, attributes))
        lines.extend([""] * draw(st.integers(1, 2)))
    return newline.join(lines), expected


@SETTINGS
@given(ldif_documents())
def test_generated_ldif_round_trips(document: tuple[str, list[Any]]) -> None:
    text, expected = document
    lines = enumerate(io.StringIO(text, newline="").read().split("\n"), start=1)
    records = list(parse_ldif(((n, t.removesuffix("\r")) for n, t in lines), "gen.ldif"))
    assert [(r.dn, r.attributes) for r in records] == expected


@SETTINGS
@given(ldif_documents())
def test_generated_ldif_reads_as_table(workdir: Path, document: tuple[str, list[Any]]) -> None:
    text, expected = document
    path = workdir / "gen.ldif"
    path.write_bytes(text.encode("utf-8"))
    table = read_export(path)
    assert table.num_rows == len(expected)
    assert table.column("dn").to_pylist() == [dn for dn, _ in expected]
    for row, (_, attributes) in zip(table.to_pylist(), expected, strict=True):
        folded = {name.lower(): value for name, value in row.items()}
        for attr, vals in attributes.items():
            cell = folded[attr.lower()]
            if table.schema.field(_spelling(table, attr)).type == pa.string():
                assert cell == vals[0]
            else:
                assert cell == [v for v in vals if v != ""]


def _spelling(table: pa.Table, name: str) -> str:
    return next(n for n in table.column_names if n.lower() == name.lower())


# ---------------------------------------------------------------------------- CSV

header_names = (
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12)
    .map(str.strip)
    .filter(lambda name: name != "" and not name.startswith("#"))
)
# No NUL: a CSV export holding one is refused (test_ingest.py tests that).
CELL_CHAR = ANY_CHAR.filter(lambda c: c != "\x00")
cells = st.text(CELL_CHAR, max_size=25)
pieces = st.text(CELL_CHAR.filter(lambda c: c != ";"), min_size=1, max_size=8).filter(
    lambda piece: piece.strip() != ""
)


@st.composite
def csv_documents(draw: st.DrawFn) -> tuple[bytes, list[str], set[str], list[dict[str, Any]]]:
    """Encoded CSV bytes, its header, the multi-valued columns and the expected rows."""
    header = draw(st.lists(header_names, min_size=1, max_size=5, unique_by=str.lower))
    multi = set(draw(st.lists(st.sampled_from(header), max_size=2)))
    expected: list[dict[str, Any]] = []
    records: list[list[str]] = []
    for _ in range(draw(st.integers(1, 8))):
        row: dict[str, Any] = {}
        record = []
        for name in header:
            if name in multi:
                parts = draw(st.lists(pieces, max_size=3))
                row[name] = parts
                record.append(";".join(parts))
            else:
                row[name] = draw(cells)
                record.append(row[name])
        expected.append(row)
        records.append(record)
    buffer = io.StringIO(newline="")
    if draw(st.booleans()):
        buffer.write("#TYPE Selected.Microsoft.ActiveDirectory.Management.ADUser\r\n")
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    terminator = draw(st.sampled_from(["\r\n", "\n"]))
    if any("\r" in cell for record in records for cell in record):
        # csv.writer's QUOTE_MINIMAL only quotes the terminator's characters;
        # an unquoted CR would be a line break to any reader.
        quoting = csv.QUOTE_ALL
    writer = csv.writer(buffer, quoting=quoting, lineterminator=terminator)
    writer.writerow(header)
    writer.writerows(records)
    text = buffer.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16-le", "utf-16-be"]))
    bom = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}.get(encoding, b"")
    return bom + text.encode(encoding), header, multi, expected


@SETTINGS
@given(csv_documents())
def test_generated_csv_round_trips(workdir: Path, document: tuple[Any, ...]) -> None:
    data, header, multi, expected = document
    path = workdir / "gen.csv"
    path.write_bytes(data)
    # Names match case-insensitively (str.lower); upper-case them where that round-trips.
    shouted = tuple(n.upper() if n.upper().lower() == n.lower() else n for n in multi)
    # One column named with a ";" reads as a ";"-separated header unless the
    # delimiter is chosen (test_ingest.py: the delimiter hint).
    chosen = "," if len(header) == 1 and ";" in header[0] else None
    table = read_export(path, options=ReadOptions(multi_valued=shouted, delimiter=chosen))
    assert table.column_names == header
    for name in header:
        kind = pa.list_(pa.string()) if name in multi else pa.string()
        assert table.schema.field(name).type == kind
    assert table.to_pylist() == expected


# ------------------------------------------------------------ garbage in, errors out


def _only_input_errors(read: Callable[[], object]) -> None:
    try:
        read()
    except InputError as exc:
        message = str(exc)
        assert message and "\n" not in message


def _garbage(formats: str) -> st.SearchStrategy[bytes]:
    """Bytes that look a bit like the format, or not at all."""
    alphabet = {
        "csv": ',"\r\n;#TYPEab \xe9',
        "ldif": "dn: \n\r:<#-=abcchangetype add modify version 1 YWI=",
        "jsonl": '{}[]",:\n 1.5e3truefalsenull\\u00e9"x"',
    }[formats]
    text = st.text(st.sampled_from(list(alphabet)) | ANY_CHAR, max_size=200)
    encoded = text.map(lambda t: t.encode("utf-8"))
    with_bom = st.tuples(
        st.sampled_from([b"", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE]),
        st.binary(max_size=200) | encoded,
    ).map(lambda parts: parts[0] + parts[1])
    return st.one_of(st.binary(max_size=300), encoded, with_bom)


@pytest.mark.parametrize(
    ("fmt", "suffix"), [("csv", ".csv"), ("ldif", ".ldif"), ("jsonl", ".jsonl")]
)
def test_garbage_text_formats_raise_only_input_error(workdir: Path, fmt: str, suffix: str) -> None:
    path = workdir / f"garbage{suffix}"

    @SETTINGS
    @given(data=_garbage(fmt), allow_empty=st.booleans(), multi=st.booleans())
    def run(data: bytes, allow_empty: bool, multi: bool) -> None:
        path.write_bytes(data)
        options = ReadOptions(multi_valued=("a", "cn") if multi else (), allow_empty=allow_empty)
        _only_input_errors(lambda: read_export(path, fmt, options))

    run()


def _parquet_bytes() -> bytes:
    buffer = io.BytesIO()
    table = pa.table({"uid": [f"u{i}" for i in range(50)], "groups": [["a", "b"]] * 50})
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


VALID_PARQUET = _parquet_bytes()


@st.composite
def damaged_parquet(draw: st.DrawFn) -> bytes:
    data = bytearray(VALID_PARQUET)
    choice = draw(st.integers(0, 2))
    if choice == 0:
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    if choice == 1:
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    return draw(st.binary(max_size=300))


@SETTINGS
@given(data=damaged_parquet())
def test_garbage_parquet_raises_only_input_error(workdir: Path, data: bytes) -> None:
    path = workdir / "garbage.parquet"
    path.write_bytes(data)
    _only_input_errors(lambda: read_export(path))
    _only_input_errors(lambda: read_snapshot_info(path))
