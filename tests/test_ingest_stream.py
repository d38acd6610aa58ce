"""Ingest in bounded memory (issue 19 point 6): CSV read a block at a time, LDIF
a chunk of whole records at a time (recondiff/ingest/ldif_stream.py, spool.py).

Small block and chunk sizes put record boundaries, folds and quoted newlines
on either side of a cut; the LDIF's Arrow path is checked against the line
parser it stands in for (recondiff/ingest/ldif.py). Peak memory on large files
is measured by benchmarks/ingest.py, not here.
"""

from __future__ import annotations

import base64
import itertools
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given

from recondiff.errors import InputError
from recondiff.ingest import csv_table, ldif_stream, spool
from recondiff.ingest.exports import ReadOptions, ingest, read_export
from recondiff.ingest.ldif import read_ldif
from recondiff.ingest.ldif_table import read_ldif_table
from recondiff.ingest.spool import Spool
from tests.test_ingest_hypothesis import SETTINGS, ldif_documents

TEXT = pa.string()
TEXTS = pa.list_(pa.string())


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def reference(path: Path, options: ReadOptions | None = None) -> pa.Table:
    """The table the line parser (recondiff.ingest.ldif) reads, record by record."""
    options = options or ReadOptions()
    kept = Spool({name.lower() for name in options.multi_valued}, names=("dn",))
    for table in ldif_stream._reference_tables(read_ldif(path), None):
        kept.add(table)
    return kept.table()


@pytest.fixture
def fallbacks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The line numbers of the chunks the Arrow path left to the line parser."""
    seen: list[int] = []
    real = ldif_stream._reference_table

    def counting(path: Path, chunk: bytes, line: int, first: bool) -> pa.Table:
        seen.append(line)
        return real(path, chunk, line, first)

    monkeypatch.setattr(ldif_stream, "_reference_table", counting)
    return seen


def entry(number: int, extra: str = "") -> str:
    return (
        f"dn: cn=user{number},ou=people,dc=example,dc=org\n"
        f"cn: user{number}\n"
        f"mail: user{number}@example.org\n"
        f"{extra}"
        f"memberOf: cn=g{number % 3},ou=groups\n"
        f"memberOf: cn=staff,ou=groups\n\n"
    )


# ---------------------------------------------------------------------------- LDIF


def test_ldif_folds_and_base64_straddling_chunk_cuts_read_as_one_chunk(
    tmp_path: Path, fallbacks: list[int]
) -> None:
    name = "Zoë Ünïcode-Ärger with a description long enough to be folded twice over"
    folded = base64.b64encode(name.encode()).decode()
    line = f"description:: {folded}"
    pieces = [line[:30]] + [" " + line[i : i + 30] for i in range(30, len(line), 30)]
    text = "version: 1\n\n# exported\n" + "".join(
        entry(i, "\n".join(pieces) + "\n" if i % 2 else "displayName: plain\n") for i in range(40)
    )
    path = write(tmp_path / "u.ldif", text)
    whole = read_ldif_table(path, ReadOptions(), chunk_bytes=1 << 20)
    assert whole.num_rows == 40
    assert whole.column("description").to_pylist()[1] == name
    assert whole.equals(reference(path))
    for size in (7, 64, 100, 173, 512):  # cuts inside folds, base64 and records
        assert read_ldif_table(path, ReadOptions(), chunk_bytes=size).equals(whole), size
    assert fallbacks == []  # the Arrow path read every chunk


def test_ldif_a_column_turning_multi_valued_in_a_later_chunk(
    tmp_path: Path, fallbacks: list[int]
) -> None:
    text = "".join(entry(i) for i in range(5)).replace("memberOf: cn=staff,ou=groups\n", "")
    text += "dn: cn=late,dc=x\ncn: late\nmemberOf: a\nmemberOf: b\nmemberOf:\nroom: 12\n\n"
    path = write(tmp_path / "u.ldif", text)
    table = read_ldif_table(path, ReadOptions(), chunk_bytes=64)
    assert table.schema.field("memberOf").type == TEXTS
    assert table.column("memberOf").to_pylist() == [["cn=g0,ou=groups"], ["cn=g1,ou=groups"],
                                                    ["cn=g2,ou=groups"], ["cn=g0,ou=groups"],
                                                    ["cn=g1,ou=groups"], ["a", "b"]]  # fmt: skip
    assert table.column("room").to_pylist() == [None] * 5 + ["12"]
    assert table.equals(reference(path))
    assert fallbacks == []


@pytest.mark.parametrize(
    ("odd", "arrow"),
    [
        ("changetype: add\n", True),  # ldifde: read as content
        ("cn;binary:: /w==\n", True),
        ("seeAlso: <GUID=1234>;<SID=S-1-5>;CN=x,DC=y\n", True),
        ("Mail: second@example.org\n", True),  # another spelling of a column
        ("description:\n", True),
        ("note:   three spaces \n", True),
        ("photo:: /9j/\n", True),
        ("version: 2\n", False),  # an attribute named version: left to the line parser
    ],
)
def test_ldif_arrow_path_reads_as_the_line_parser(
    tmp_path: Path, fallbacks: list[int], odd: str, arrow: bool
) -> None:
    text = entry(0) + entry(1, odd).replace("cn: user1\n", odd + "cn: user1\n", 1) + entry(2)
    if odd.startswith("changetype"):
        text = entry(0) + entry(1).replace("\n", "\n" + odd, 1) + entry(2)
    path = write(tmp_path / "u.ldif", text)
    assert read_ldif_table(path, ReadOptions()).equals(reference(path))
    assert read_ldif_table(path, ReadOptions(multi_valued=("cn",))).equals(
        reference(path, ReadOptions(multi_valued=("cn",)))
    )
    assert (fallbacks == []) == arrow


@SETTINGS
@given(ldif_documents())
def test_generated_ldif_reads_the_same_in_any_chunks(
    workdir: Path, document: tuple[str, list[Any]]
) -> None:
    text, _ = document
    path = workdir / "gen.ldif"
    path.write_bytes(text.encode("utf-8"))
    expected = reference(path)
    for size in (1, 50, 1 << 20):
        assert read_ldif_table(path, ReadOptions(), chunk_bytes=size).equals(expected)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stream")


def test_ldif_bad_line_far_into_the_file_names_its_line(tmp_path: Path) -> None:
    good = "".join(entry(i) for i in range(300))
    line = good.count("\n") + 3
    path = write(tmp_path / "u.ldif", good + "dn: cn=bad\ncn: bad\nthis line has no colon\n\n")
    out = tmp_path / "out" / "u.parquet"
    for size in (256, ldif_stream.CHUNK_BYTES):
        with pytest.raises(InputError) as caught:
            read_ldif_table(path, ReadOptions(), chunk_bytes=size)
        assert str(caught.value) == (
            f'{path}: line {line}: no ":" in "this line has no colon"; '
            'each LDIF line is "attribute: value"'
        )
    with pytest.raises(InputError, match=f"line {line}: no"):
        ingest(path, out)
    assert list(out.parent.iterdir()) == []  # no snapshot, no temp file, no spool


def test_ldif_bad_utf8_far_into_the_file_names_its_line(tmp_path: Path) -> None:
    good = "".join(entry(i) for i in range(300)).encode()
    line = good.count(b"\n") + 2
    path = write(tmp_path / "u.ldif", good + b"dn: cn=bad\ncn: b\xe9d\n\n" + entry(301).encode())
    with pytest.raises(InputError) as caught:
        read_ldif_table(path, ReadOptions(), chunk_bytes=300)
    assert str(caught.value) == (
        f"{path}: line {line}: not valid UTF-8 (byte 0xE9); "
        "save the export as UTF-8 (or UTF-16 with a BOM)"
    )


def test_ldif_version_is_only_the_files_first_line(tmp_path: Path) -> None:
    path = write(tmp_path / "u.ldif", "# c\n\n" * 40 + "version: 1\n\n" + entry(0) + entry(1))
    assert read_ldif_table(path, ReadOptions(), chunk_bytes=16).num_rows == 2
    late = write(tmp_path / "late.ldif", entry(0) + "version: 1\n\n" + entry(1))
    for size in (16, 1 << 20):
        with pytest.raises(InputError, match='line 7: a record must start with "dn:"'):
            read_ldif_table(late, ReadOptions(), chunk_bytes=size)


def test_ingest_ldif_writes_final_types_and_row_count(tmp_path: Path) -> None:
    path = write(tmp_path / "u.ldif", "".join(entry(i) for i in range(50)))
    out = tmp_path / "snap.parquet"
    info = ingest(path, out, options=ReadOptions(multi_valued=("mail",)))
    assert info.rows == 50
    footer = pq.ParquetFile(out)
    assert footer.schema_arrow.field("mail").type == TEXTS
    assert footer.schema_arrow.metadata[b"recondiff.rows"] == b"50"
    assert footer.metadata.metadata[b"recondiff.rows"] == b"50"
    assert (
        pq.read_table(out)
        .replace_schema_metadata(None)
        .equals(read_export(path, options=ReadOptions(multi_valued=("mail",))))
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap.parquet", "u.ldif"]


@pytest.mark.parametrize(
    "late",
    [
        "",  # every chunk keeps the first one's columns
        "room: 12\n",  # a column first met in a later chunk
        "cn: again\n",  # a column turned multi-valued
        "mail: m2\n",  # mail is named multi-valued from the start
    ],
)
def test_ingest_ldif_whose_columns_change_in_a_later_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, late: str
) -> None:
    monkeypatch.setattr(spool, "ROW_GROUP_ROWS", 4)
    monkeypatch.setattr(ldif_stream, "CHUNK_BYTES", 300)
    text = "".join(entry(i) for i in range(30)) + entry(30, late) + entry(31)
    path = write(tmp_path / "u.ldif", text)
    out = tmp_path / "snap.parquet"
    options = ReadOptions(multi_valued=("mail",))
    assert ingest(path, out, options=options).rows == 32
    written = pq.read_table(out)
    assert written.replace_schema_metadata(None).equals(read_export(path, options=options))
    assert written.equals(reference(path, options).replace_schema_metadata(written.schema.metadata))
    assert pq.ParquetFile(out).metadata.num_row_groups > 2
    assert pq.ParquetFile(out).schema_arrow.metadata[b"recondiff.rows"] == b"32"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap.parquet", "u.ldif"]


# ----------------------------------------------------------------------------- CSV


def csv_rows(count: int) -> str:
    return "".join(f'u{i},"line one\nline two of {i}",g{i};h\n' for i in range(count))


def test_csv_quoted_newlines_straddling_blocks(tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", "\ufeffuid,note,groups\n" + csv_rows(200))
    options = ReadOptions(multi_valued=("groups",))
    whole = csv_table.read_csv_table(path, options, block_size=1 << 20)
    assert whole.num_rows == 200
    assert whole.column_names == ["uid", "note", "groups"]
    assert whole.column("note")[7].as_py() == "line one\nline two of 7"
    assert whole.column("groups")[7].as_py() == ["g7", "h"]
    for size in (64, 100, 333):
        table = csv_table.read_csv_table(path, options, block_size=size)
        assert table.equals(whole), size
        assert table.column("note").num_chunks > 1  # it was read in several blocks


def test_csv_record_larger_than_the_block_is_read_in_larger_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_table, "_CSV_BATCH", 64)
    path = write(tmp_path / "u.csv", "uid,note\na," + "x" * 500 + "\nb,y\n")
    assert read_export(path).column("note").to_pylist() == ["x" * 500, "y"]


def test_csv_bad_row_far_into_the_file_names_its_row_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool, "ROW_GROUP_ROWS", 10)  # row groups written before the error
    text = "uid,note,groups\n" + csv_rows(500) + "bad,one,two,three\n" + csv_rows(10)
    path = write(tmp_path / "u.csv", text)
    out = tmp_path / "out" / "u.parquet"
    expected = (
        f"{path}: row 501 (line 1002): 4 fields where the header has 3; quote values that "
        "contain commas"
    )
    for size in (256, None):
        with pytest.raises(InputError) as caught:
            csv_table.read_csv_table(path, ReadOptions(), block_size=size)
        assert str(caught.value) == expected
    with pytest.raises(InputError) as caught:
        ingest(path, out)
    assert str(caught.value) == expected
    assert list(out.parent.iterdir()) == []


def test_ingest_csv_streams_row_groups_with_the_row_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool, "ROW_GROUP_ROWS", 50)
    monkeypatch.setattr(csv_table, "_CSV_BATCH", 256)
    path = write(tmp_path / "u.csv", "uid,note,groups\n" + csv_rows(300))
    out = tmp_path / "snap.parquet"
    info = ingest(path, out, options=ReadOptions(multi_valued=("groups",)))
    footer = pq.ParquetFile(out)
    assert info.rows == 300
    assert footer.metadata.num_row_groups > 1
    assert footer.schema_arrow.metadata[b"recondiff.rows"] == b"300"
    assert list(footer.schema_arrow.metadata) == [
        b"recondiff.captured_at", b"recondiff.source", b"recondiff.source_sha256",
        b"recondiff.rows", b"recondiff.format", b"recondiff.version",
    ]  # fmt: skip
    assert pq.read_table(out).column("groups").type == TEXTS


def test_ingest_csv_without_records_writes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", "uid,mail\n")
    out = tmp_path / "out.parquet"
    with pytest.raises(InputError, match="no records"):
        ingest(path, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u.csv"]
    assert ingest(path, out, options=ReadOptions(allow_empty=True)).rows == 0
    assert pq.read_table(out).column_names == ["uid", "mail"]


def test_a_spool_a_killed_run_left_is_removed_one_in_use_is_not(tmp_path: Path) -> None:
    path = write(tmp_path / "u.ldif", entry(0))
    out = tmp_path / "snap.parquet"
    stale = tmp_path / ".snap.parquet.spool-dead"
    stale.mkdir()
    (stale / "000000.arrow").write_bytes(b"x" * 100)
    busy = Spool.beside(out, set())  # another run's, locked while it runs
    other = tmp_path / ".other.parquet.spool-dead"  # another snapshot's: not ours to judge
    other.mkdir()
    try:
        assert ingest(path, out).rows == 1
        names = sorted(p.name for p in tmp_path.iterdir())
        assert busy.directory is not None and busy.directory.name in names
        assert stale.name not in names and other.name in names
    finally:
        busy.remove()
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, "snap.parquet", "u.ldif"]


def test_a_dn_with_the_binary_option_is_refused_in_one_line(tmp_path: Path) -> None:
    # it would be a second value of the dn column (before: an Arrow length error, exit 3)
    path = write(tmp_path / "u.ldif", "dn: cn=a\ndn;binary:: /w==\ncn: a\n\ndn: cn=b\ncn: b\n")
    with pytest.raises(InputError) as caught:
        read_export(path)
    assert str(caught.value) == (
        f'{path}: line 2: "dn;binary" would be a second DN of the entry; '
        "remove the line from the export"
    )


def test_a_spool_under_a_temp_name_is_swept_by_the_snapshot_name_unless_in_use(
    tmp_path: Path,
) -> None:
    """Spools are named after the snapshot's temporary name: a killed run's is
    found by the next run writing the same snapshot, another run's in use is not."""
    path = write(tmp_path / "u.ldif", entry(0))
    out = tmp_path / "snap.parquet"
    stale = tmp_path / ".snap.parquet.tmp-0123456789ab.spool-dead"
    stale.mkdir()
    busy = Spool.beside(tmp_path / "snap.parquet.tmp-ba9876543210", set())
    other = tmp_path / ".snap.parquet2.tmp-0123456789ab.spool-dead"  # another snapshot's
    other.mkdir()
    try:
        assert ingest(path, out).rows == 1
        names = sorted(p.name for p in tmp_path.iterdir())
        assert busy.directory is not None and busy.directory.name in names
        assert stale.name not in names and other.name in names
    finally:
        busy.remove()


@pytest.mark.parametrize("chunk", [5, 40, 64])
def test_ldif_without_blank_lines_is_cut_before_each_dn_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """No blank line between entries (any case of ``dn:``, CRLF, folds, a
    ``dnQualifier`` attribute): cut before DN lines, read as the line parser reads it."""
    text = "".join(
        f"{spelling}: cn=u{i},dc=x\r\ncn: u{i}\r\ndnQualifier: q\r\ndescription: a\r\n dn: b\r\n"
        for i, spelling in enumerate(["dn", "DN", "Dn", "dN"] * 5)
    )
    path = write(tmp_path / "x.ldif", text)
    sizes: list[int] = []
    real = ldif_stream._chunks

    def recording(handle: Any, size: int) -> Any:
        for piece in real(handle, size):
            sizes.append(len(piece))
            yield piece

    monkeypatch.setattr(ldif_stream, "_chunks", recording)
    monkeypatch.setattr(ldif_stream, "CHUNK_BYTES", chunk)
    got = read_ldif_table(path, ReadOptions())
    assert got.to_pylist() == reference(path).to_pylist()
    assert got.num_rows == 20 and len(sizes) > 10


def test_the_source_digest_stops_at_its_flag(tmp_path: Path) -> None:
    """The digest a refused export no longer needs stops between two chunks."""
    import contextvars
    import threading

    from recondiff.ingest import snapshot

    path = write(tmp_path / "big.bin", b"x" * (3 * snapshot.CHUNK))
    stop = threading.Event()
    context = contextvars.copy_context()
    context.run(snapshot.HASH_STOP.set, stop)
    assert context.run(snapshot.file_sha256, path) == snapshot.file_sha256(path)
    stop.set()
    with pytest.raises(snapshot.HashStopped):
        context.run(snapshot.file_sha256, path)


@pytest.mark.parametrize("size", [2, 3, 16])
def test_csv_reads_never_end_between_a_cr_and_the_next_byte(tmp_path: Path, size: int) -> None:
    """What Arrow's CSV reader is fed: every byte, in order, and no read ending
    on the CR of a CRLF."""
    data = b'id,name\r\n1,"a\r\r\nb"\r\r\r\n2,\r' + b"x\r\n" * 7 + b"\r"
    path = write(tmp_path / "x.csv", data)
    pieces = []
    with csv_table._NoCrAtEnd.open(path, path) as handle:
        while piece := handle.read(size):
            assert len(piece) <= size
            pieces.append(piece)
    assert b"".join(pieces) == data
    assert all(
        not (piece.endswith(b"\r") and after.startswith(b"\n"))
        for piece, after in itertools.pairwise(pieces)
    )
