"""Red team for the streaming ingest (issue 19 point 6): hostile and careless
CSV and LDIF exports, read the new way (CSV in Arrow blocks, LDIF in chunks
parsed on worker threads, spooled) and checked against what the old reader
did: the line parser (recondiff.ingest.ldif.read_ldif) for LDIF, and the
values in the file for CSV.

Tests marked ``xfail(strict=True)`` are holes found in the new code: each
fails on it and passes once the hole is fixed (then drop the mark). The others
pass and stay as hardening coverage. Small chunk sizes put every record and
fold on either side of a cut.
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recondiff.errors import InputError
from recondiff.ingest import csv_table, ldif_stream
from recondiff.ingest.exports import ReadOptions, ingest
from recondiff.ingest.ldif import read_ldif
from recondiff.ingest.spool import Spool


def _write(path: Path, data: str | bytes) -> Path:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def _line_parser_table(path: Path) -> pa.Table:
    """What the old ingest read: the line parser's records, in final types."""
    kept = Spool(set(), names=("dn",))
    for table in ldif_stream._reference_tables(read_ldif(path), None):
        kept.add(table)
    return kept.table()


def _snapshot(source: Path, out: Path) -> pa.Table:
    ingest(source, out, None, ReadOptions())
    return pq.read_table(out).replace_schema_metadata(None)


def _leftovers(*folders: Path) -> list[str]:
    return sorted(name for folder in folders for name in os.listdir(folder))


E2 = "dn: cn=a,dc=x\ncn: a\nmail: a@x\n\ndn: cn=b,dc=x\ncn: b\nmemberOf: g1\nmemberOf: g2\n\n"
B64_BAD_UTF8 = base64.b64encode(b"\xff\xfe").decode()

LDIF_DOCUMENTS = {
    "crlf": E2.replace("\n", "\r\n"),
    "no_final_newline": E2.rstrip("\n"),
    "ends_inside_an_entry": "dn: cn=a,dc=x\ncn: a\n\ndn: cn=b,dc=x\ncn: b\nmail",
    "ends_on_a_fold": "dn: cn=a,dc=x\ncn: a\n\ndn: cn=b,dc=x\ncn: b\n ",
    "version_1": "version: 1\n" + E2,
    "version_2": "version: 2\n" + E2,
    "version_base64": "version:: MQ==\n" + E2,
    "version_after_a_record": E2 + "version: 1\n",
    "version_after_comments": "# hi\n\nversion: 1\n\n" + E2,
    "comments_folded": "# c1\n#  folded\n continued\n" + E2 + "# trailing\n",
    "comment_inside_an_entry": "dn: cn=a,dc=x\n# comment\n more\ncn: a\n\n",
    "url_value": "dn: cn=a,dc=x\ncn:< file:///etc/passwd\n\n",
    "url_value_no_space": "dn: cn=a,dc=x\ncn:<file:///etc/passwd\n\n",
    "url_dn": "dn:< file:///etc/passwd\ncn: a\n\n",
    "url_folded_after_colon": "dn: cn=a,dc=x\ncn:\n < file:///etc/passwd\n\n",
    "url_late": E2 * 5 + "dn: cn=z,dc=x\njpegPhoto:< file:///etc/shadow\n\n",
    "base64_bad_padding": "dn: cn=a,dc=x\ncn:: YWJj=\n\n",
    "base64_no_padding": "dn: cn=a,dc=x\ncn:: YWI\n\n",
    "base64_invalid": "dn: cn=a,dc=x\ncn:: ab$cd\n\n",
    "base64_not_utf8": f"dn: cn=a,dc=x\ncn:: {B64_BAD_UTF8}\n\n",
    "base64_dn_not_utf8": f"dn:: {B64_BAD_UTF8}\ncn: a\n\n",
    "base64_control": "dn: cn=a,dc=x\ncn:: " + base64.b64encode(b"a\x01b").decode() + "\n\n",
    "base64_empty": "dn: cn=a,dc=x\ncn::\ndescription:: \n\n",
    "base64_spaces": "dn: cn=a,dc=x\ncn::  " + base64.b64encode(b" a ").decode() + "  \n\n",
    "changetype_add": "dn: cn=a,dc=x\nchangetype:  ADD \ncn: a\n\n",
    "changetype_modify": "dn: cn=a,dc=x\nchangetype: modify\nreplace: cn\ncn: b\n-\n\n",
    "changetype_delete": E2 + "dn: cn=a,dc=x\nchangetype: delete\n\n",
    "changetype_not_after_dn": "dn: cn=a,dc=x\ncn: a\nchangetype: modify\n\n",
    "control": "dn: cn=a,dc=x\ncontrol: 1.2.3 true\ncn: a\n\n",
    "options": "dn: cn=a,dc=x\nuserCertificate;binary:: AAEC\ncn;lang-en: a\nCN;LANG-EN: c\n\n",
    "name_case_variants": "dn: cn=a\nCN: a\n\nDN: cn=b\ncn: b\nMail: m\n\nDn: cn=c\nmail: n\nMAIL: o\n\n",
    "entry_without_dn": E2 + "cn: a\n\n",
    "duplicate_dn": E2 + "dn: cn=a,dc=x\ncn: again\n\n",
    "no_blank_between_entries": "dn: cn=a,dc=x\ncn: a\ndn: cn=b,dc=x\ncn: b\n",
    "continuation_after_blank": "dn: cn=a,dc=x\ncn: a\n\n more\n",
    "nul": E2 + "dn: cn=z,dc=x\ncn: a\x00b\n\n",
    "attribute_named_dn": "dn: cn=a,dc=x\ndn;binary:: AAE=\n\n",
    "attribute_name_with_space": "dn: cn=a,dc=x\nc n: a\n\n",
    "line_without_colon": "dn: cn=a,dc=x\ncn a\n\n",
    "extended_dn": "dn: <GUID=1>;<SID=S-1>;CN=a,DC=x\nmanager: <GUID=2>;CN=b,DC=x\n\n",
    "empty_values": "dn: cn=a\ncn:\nmemberOf:\nmemberOf: g\n\ndn: cn=b\ncn: b\nmemberOf:\n\n",
    "lone_cr_in_value": "dn: cn=a,dc=x\ncn: a\rb\n\n",
    "columns_change_late": "dn: cn=a\ncn: a\n\n" * 6 + "dn: cn=z\ncn: z1\ncn: z2\nnew: n\n\n",
}
LDIF_BYTES = {
    "latin1_late": (E2 * 5).encode() + b"dn: cn=z,dc=x\ncn: Zo\xeb\n\n",
    "fold_inside_a_utf8_character": b"dn: cn=a,dc=x\ncn: Zo\xc3\n \xab\n\n",
    "utf8_bom": codecs.BOM_UTF8 + b"version: 1\n" + E2.encode(),
    "utf16_bom": codecs.BOM_UTF16_LE + E2.encode("utf-16-le"),
}


@pytest.mark.parametrize("chunk", [1, 7, 64, None])
@pytest.mark.parametrize("name", sorted([*LDIF_DOCUMENTS, *LDIF_BYTES]))
def test_ldif_reads_as_the_line_parser_in_any_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, chunk: int | None
) -> None:
    """Same rows, names, types and values as the line parser; or its error, and
    nothing written: no snapshot, temp file or spool beside it or the source."""
    if chunk is not None:
        monkeypatch.setattr(ldif_stream, "CHUNK_BYTES", chunk)
    source_dir, out_dir = tmp_path / "in", tmp_path / "out"
    source_dir.mkdir()
    out_dir.mkdir()
    source = _write(source_dir / "x.ldif", LDIF_DOCUMENTS.get(name) or LDIF_BYTES[name])
    try:
        expected: pa.Table | str = _line_parser_table(source)
    except InputError as exc:
        expected = str(exc)
    if isinstance(expected, str):
        with pytest.raises(InputError) as caught:
            ingest(source, out_dir / "s.parquet", None, ReadOptions())
        assert str(caught.value) == expected
        assert _leftovers(source_dir, out_dir) == ["x.ldif"]
        return
    got = _snapshot(source, out_dir / "s.parquet")
    assert got.schema == expected.schema
    assert got.to_pylist() == expected.to_pylist()
    assert _leftovers(source_dir, out_dir) == ["s.parquet", "x.ldif"]


@pytest.mark.parametrize("chunk", [7, None])
def test_ldif_line_with_an_empty_attribute_name_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int | None
) -> None:
    if chunk is not None:
        monkeypatch.setattr(ldif_stream, "CHUNK_BYTES", chunk)
    source = _write(tmp_path / "x.ldif", "dn: cn=a,dc=x\n: cn=admin\ncn: a\n\n")
    with pytest.raises(InputError, match=r'line 2: "" is not an attribute name'):
        ingest(source, tmp_path / "s.parquet", None, ReadOptions())
    assert _leftovers(tmp_path) == ["x.ldif"]


def test_ldif_many_chunks_on_threads_write_the_same_bytes_every_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks parsed on two threads come back in file order: three runs, one file."""
    monkeypatch.setattr(ldif_stream, "CHUNK_BYTES", 97)
    monkeypatch.setattr(ldif_stream, "THREADS", 2)
    entries = [
        f"dn: cn=u{i},dc=x\ncn: u{i}\n"
        + (f"memberOf: g{i}\nmemberOf: h\n" if i % 5 == 0 else "")
        + (f"late{i}: v\n" if i % 97 == 3 else "")
        + "\n"
        for i in range(400)
    ]
    source = _write(tmp_path / "x.ldif", "".join(entries))
    digests = set()
    for run in range(3):
        out = tmp_path / f"s{run}.parquet"
        ingest(source, out, None, ReadOptions(), captured_at=None)
        table = pq.read_table(out)
        assert table.column("dn").to_pylist() == [f"cn=u{i},dc=x" for i in range(400)]
        digests.add(hashlib.sha256(out.read_bytes()).hexdigest())
    assert len(digests) == 1


# ---------------------------------------------------------------------------- CSV


def _crlf_row_across_a_block_cut(block: int) -> bytes:
    """A CSV whose quoted ``a\\r\\nb`` value has its CR as the last byte of the
    first block of ``block`` bytes (Arrow's streaming reader cuts there)."""
    body = bytearray(b"id,name\r\n")
    number = 0
    while len(body) + 32 < block:
        body += b"%d,f\r\n" % number
        number += 1
    pad = block - len(body) - len(b'x,"a\r')
    data = bytes(body) + b'x,"' + b"p" * pad + b'a\r\nb"\r\n'
    assert data[block - 1 : block + 1] == b"\r\n"
    return data + b"y,z\r\n"


def test_csv_quoted_crlf_across_the_default_block_cut_is_kept(tmp_path: Path) -> None:
    block = 2 << 20  # csv_table._CSV_BATCH as committed
    source = _write(tmp_path / "x.csv", _crlf_row_across_a_block_cut(block))
    table = _snapshot(source, tmp_path / "s.parquet")
    names = table.column("name").to_pylist()
    assert names[-2].endswith("a\r\nb")
    assert names[-1] == "z"


def test_csv_quoted_crlf_across_small_block_cuts_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_table, "_CSV_BATCH", 16)
    rows = "".join(f'{i},"a\r\nb"\r\n' for i in range(60))
    source = _write(tmp_path / "x.csv", "id,name\r\n" + rows)
    table = _snapshot(source, tmp_path / "s.parquet")
    assert table.column("name").to_pylist() == ["a\r\nb"] * 60


CSV_DOCUMENTS = {
    "crlf": ("id,name\r\n1,a\r\n2,b\r\n", [("1", "a"), ("2", "b")]),
    "no_final_newline": ("id,name\n1,a\n2,b", [("1", "a"), ("2", "b")]),
    "quoted_newlines_and_quotes": (
        'id,name\n1,"l1\nl2"\n2,"a""b"\n',
        [("1", "l1\nl2"), ("2", 'a"b')],
    ),
    "formula_cells_kept_as_text": (
        "id,name\n1,=cmd|'/c calc'!A1\n2,@SUM(A1)\n",
        [("1", "=cmd|'/c calc'!A1"), ("2", "@SUM(A1)")],
    ),
    "null_words_kept_as_text": (
        "id,name\n1,NULL\n2,NA\n3,\n",
        [("1", "NULL"), ("2", "NA"), ("3", "")],
    ),
    "utf8_bom": ("\ufeffid,name\n1,a\n", [("1", "a")]),
}


@pytest.mark.parametrize("block", [16, 64, None])
@pytest.mark.parametrize("name", sorted(CSV_DOCUMENTS))
def test_csv_values_read_exactly_in_any_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, block: int | None
) -> None:
    if block is not None:
        monkeypatch.setattr(csv_table, "_CSV_BATCH", block)
    text, rows = CSV_DOCUMENTS[name]
    source = _write(tmp_path / "x.csv", text)
    table = _snapshot(source, tmp_path / "s.parquet")
    assert table.schema == pa.schema([("id", pa.string()), ("name", pa.string())])
    assert [(r["id"], r["name"]) for r in table.to_pylist()] == rows


CSV_REFUSED: dict[str, tuple[str | bytes, str | None]] = {
    "latin1_far_in": (
        ("id,name\n" + "".join(f"{i},n{i}\n" for i in range(3000))).encode() + b"x,Zo\xeb\n",
        r"row 3001",
    ),
    "too_many_fields_far_in": (
        "id,name\n" + "".join(f"{i},n{i}\n" for i in range(3000)) + "x,a,b\n",
        r"row 3001",
    ),
    "too_few_fields_far_in": (
        "id,name\n" + "".join(f"{i},n{i}\n" for i in range(3000)) + "x\n",
        r"row 3001",
    ),
    "open_quote_far_in": (
        "id,name\n" + "".join(f"{i},n{i}\n" for i in range(3000)) + 'x,"abc\ny,b\n',
        None,
    ),
    "nul_far_in": (
        "id,name\n" + "".join(f"{i},n{i}\n" for i in range(3000)) + "x,a\x00b\n",
        r"NUL",
    ),
    "duplicate_header": ("id,ID\n1,2\n", r"differ only in case"),
    "header_only": ("id,name\n", r"no records"),
    "empty": ("", None),
}


@pytest.mark.parametrize("block", [64, None])
@pytest.mark.parametrize("name", sorted(CSV_REFUSED))
def test_csv_refused_with_one_line_and_nothing_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, block: int | None
) -> None:
    if block is not None:
        monkeypatch.setattr(csv_table, "_CSV_BATCH", block)
    data, pattern = CSV_REFUSED[name]
    source_dir, out_dir = tmp_path / "in", tmp_path / "out"
    source_dir.mkdir()
    out_dir.mkdir()
    source = _write(source_dir / "x.csv", data)
    with pytest.raises(InputError, match=pattern) as caught:
        ingest(source, out_dir / "s.parquet", None, ReadOptions())
    assert "\n" not in str(caught.value)
    assert _leftovers(source_dir, out_dir) == ["x.csv"]


def test_ldif_without_blank_lines_is_still_read_in_bounded_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ldif_stream, "CHUNK_BYTES", 256)
    sizes: list[int] = []
    real = ldif_stream._chunks

    def recording(handle: object, size: int) -> object:
        for chunk in real(handle, size):  # type: ignore[arg-type]
            sizes.append(len(chunk))
            yield chunk

    monkeypatch.setattr(ldif_stream, "_chunks", recording)
    entries = "".join(f"dn: cn=u{i},dc=x\ncn: u{i}\nmail: u{i}@x\n" for i in range(500))
    source = _write(tmp_path / "x.ldif", entries)
    table = _snapshot(source, tmp_path / "s.parquet")
    assert table.num_rows == 500
    assert max(sizes) <= 4 * 256


def test_ldif_ingest_removes_the_spool_a_killed_run_left(tmp_path: Path) -> None:
    out = tmp_path / "s.parquet"
    # the name a run killed by SIGKILL mid-ingest really leaves (seen with kill -9)
    stale = tmp_path / ".s.parquet.tmp-21d77ec20aee.spool-5w6j8k5s"
    stale.mkdir()
    (stale / "000000.arrow").write_bytes(b"x" * 1024)
    source = _write(tmp_path / "x.ldif", E2)
    ingest(source, out, None, ReadOptions())
    assert _leftovers(tmp_path) == ["s.parquet", "x.ldif"]


def test_a_refused_export_is_refused_without_waiting_for_its_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recondiff.ingest import exports

    def slow_sha256(path: Path) -> str:
        time.sleep(3)  # a large export on a cold disk
        return "0" * 64

    monkeypatch.setattr(exports, "file_sha256", slow_sha256)
    source = _write(tmp_path / "x.ldif", "dn: cn=a,dc=x\ncn a\n\n")
    started = time.monotonic()
    with pytest.raises(InputError, match="line 2"):
        ingest(source, tmp_path / "s.parquet", None, ReadOptions())
    assert time.monotonic() - started < 1.5
