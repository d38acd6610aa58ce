"""Export readers (CSV, JSON Lines, Parquet) and snapshot writing/reading."""

from __future__ import annotations

import codecs
import datetime as dt
import decimal
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import recondiff
from recondiff.errors import InputError
from recondiff.ingest import csv_table
from recondiff.ingest.exports import (
    FORMATS,
    ReadOptions,
    SnapshotInfo,
    detect_format,
    file_sha256,
    ingest,
    read_export,
    read_snapshot_info,
)

DATA = Path(__file__).resolve().parent / "data" / "ingest"
TEXT = pa.string()
TEXTS = pa.list_(pa.string())
UTF8_ADVICE = "save the export as UTF-8 (or UTF-16 with a BOM)"
EMPTY = (
    "no records; an empty export would make every account look orphaned. "
    "Pass --allow-empty if it really is empty"
)


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8", newline="")
    else:
        path.write_bytes(data)
    return path


def message(path: Path, fmt: str | None = None, options: ReadOptions | None = None) -> str:
    with pytest.raises(InputError) as caught:
        read_export(path, fmt, options or ReadOptions())
    return str(caught.value)


def rows(table: pa.Table) -> list[dict[str, Any]]:
    return table.to_pylist()  # type: ignore[no-any-return]


# ------------------------------------------------------------------ detect_format


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.csv", "csv"),
        ("A.CSV", "csv"),
        ("a.txt", "csv"),
        ("a.ldif", "ldif"),
        ("a.LDF", "ldif"),
        ("a.jsonl", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.json", "jsonl"),
        ("a.parquet", "parquet"),
        ("dir.v2/a.pq", "parquet"),
    ],
)
def test_detect_format_by_extension(name: str, fmt: str) -> None:
    assert detect_format(Path(name)) == fmt


def test_explicit_format_wins() -> None:
    assert detect_format(Path("export.txt"), "ldif") == "ldif"
    assert detect_format(Path("export"), "JSONL") == "jsonl"
    assert FORMATS == ("csv", "ldif", "jsonl", "parquet")


def test_unknown_extension() -> None:
    with pytest.raises(InputError) as caught:
        detect_format(Path("users.xlsx"))
    assert str(caught.value) == (
        'users.xlsx: cannot tell the format from extension ".xlsx"; '
        "pass --format csv, ldif, jsonl or parquet"
    )
    with pytest.raises(InputError) as caught:
        detect_format(Path("users"))
    assert str(caught.value) == (
        "users: cannot tell the format from a name without an extension; "
        "pass --format csv, ldif, jsonl or parquet"
    )


def test_unknown_explicit_format() -> None:
    with pytest.raises(InputError) as caught:
        detect_format(Path("users.csv"), "tsv")
    assert str(caught.value) == (
        'users.csv: unknown format "tsv"; use --format csv, ldif, jsonl or parquet'
    )


# ---------------------------------------------------------------------------- CSV


def test_csv_basic(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", "uid,mail,title\na,a@x,\nb,,Boss\n")
    table = read_export(path)
    assert table.column_names == ["uid", "mail", "title"]
    assert table.schema.types == [TEXT, TEXT, TEXT]
    assert rows(table) == [
        {"uid": "a", "mail": "a@x", "title": ""},
        {"uid": "b", "mail": "", "title": "Boss"},
    ]


def test_csv_quoting_newlines_commas_doubled_quotes_crlf(tmp_path: Path) -> None:
    text = (
        'uid,"display, name",note\r\n'
        'a,"Doe, John","He said ""hi""\r\nthen left"\r\n'
        '"b","",plain "inner" quotes\r\n'
        '"c","multi\n\nline",x\r\n'
    )
    table = read_export(write(tmp_path, "u.csv", text))
    assert table.column_names == ["uid", "display, name", "note"]
    assert rows(table) == [
        {"uid": "a", "display, name": "Doe, John", "note": 'He said "hi"\r\nthen left'},
        {"uid": "b", "display, name": "", "note": 'plain "inner" quotes'},
        {"uid": "c", "display, name": "multi\n\nline", "note": "x"},
    ]


def test_csv_blank_lines_are_skipped_and_header_names_trimmed(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", "uid, mail \n\na,a@x\n\n\nb,b@x\n\n")
    table = read_export(path)
    assert table.column_names == ["uid", "mail"]
    assert rows(table) == [{"uid": "a", "mail": "a@x"}, {"uid": "b", "mail": "b@x"}]


def test_csv_utf8_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", codecs.BOM_UTF8 + "uid,cn\nzoe,Zoë\n".encode())
    table = read_export(path)
    assert table.column_names == ["uid", "cn"]
    assert rows(table) == [{"uid": "zoe", "cn": "Zoë"}]


def test_csv_powershell_type_line_skipped(tmp_path: Path) -> None:
    path = write(
        tmp_path, "u.csv", '#TYPE System.Management.Automation.PSCustomObject\n"a","b"\n"1","2"\n'
    )
    assert rows(read_export(path)) == [{"a": "1", "b": "2"}]


def test_csv_powershell5_fixture_utf16le_type_line_crlf() -> None:
    path = DATA / "ps5-users.csv"
    assert path.read_bytes()[:2] == codecs.BOM_UTF16_LE
    table = read_export(path, options=ReadOptions(multi_valued=("MEMBEROF",)))
    assert table.column_names == [
        "SamAccountName",
        "DisplayName",
        "mail",
        "Title",
        "memberOf",
        "Enabled",
    ]
    assert table.schema.field("memberOf").type == TEXTS
    assert table.schema.field("Title").type == TEXT
    assert rows(table) == [
        {
            "SamAccountName": "jdoe",
            "DisplayName": "Doe, John",
            "mail": "john.doe@corp.example",
            "Title": 'Engineer "Senior"',
            "memberOf": [
                "CN=IT,OU=Groups,DC=corp,DC=example",
                "CN=VPN,OU=Groups,DC=corp,DC=example",
            ],
            "Enabled": "True",
        },
        {
            "SamAccountName": "zoe",
            "DisplayName": "Zoë Ångström",
            "mail": "zoe@corp.example",
            "Title": "Line one\r\nLine two",
            "memberOf": [],
            "Enabled": "False",
        },
        {
            "SamAccountName": "svc-backup",
            "DisplayName": "",
            "mail": "",
            "Title": "",
            "memberOf": ["CN=Backup Operators,CN=Builtin,DC=corp,DC=example"],
            "Enabled": "True",
        },
    ]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_csv_utf16_with_bom(tmp_path: Path, encoding: str) -> None:
    bom = codecs.BOM_UTF16_LE if encoding.endswith("le") else codecs.BOM_UTF16_BE
    text = '#TYPE x\r\n"uid","cn"\r\n"zoe","Zoë 𝄞, ""q"""\r\n'
    path = write(tmp_path, "u.csv", bom + text.encode(encoding))
    assert rows(read_export(path)) == [{"uid": "zoe", "cn": 'Zoë 𝄞, "q"'}]


def test_csv_utf16_temp_file_is_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    good = write(tmp_path, "good.csv", codecs.BOM_UTF16_LE + "a\r\n1\r\n".encode("utf-16-le"))
    bad = write(tmp_path, "bad.csv", codecs.BOM_UTF16_LE + "a,b\r\n1\r\n".encode("utf-16-le"))
    read_export(good)
    with pytest.raises(InputError):
        read_export(bad)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_csv_multi_valued_split_and_blank_pieces_dropped(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", "uid,MemberOf,mail\na,g1;g2; ;;g3 ,a@x\nb,,b@x\nc,;,c@x\n")
    table = read_export(path, options=ReadOptions(multi_valued=("memberof", "unknown")))
    assert table.schema.types == [TEXT, TEXTS, TEXT]
    assert [r["MemberOf"] for r in rows(table)] == [["g1", "g2", "g3 "], [], []]


def test_csv_blank_piece_is_unicode_white_space(tmp_path: Path) -> None:
    """A piece of Unicode White_Space only (no-break, ideographic, line separator) is
    blank; U+001F and U+200B, which Python's isspace() and the eye take for space,
    are values (as when polars split the cells)."""
    cells = "\u00a0;\u3000;\u2028\t;\x1f;\u200b;\x85;x"
    path = write(tmp_path, "u.csv", f'uid,groups\na,"{cells}"\nb,"{cells}"\n')
    table = read_export(path, options=ReadOptions(multi_valued=("groups",)))
    assert [r["groups"] for r in rows(table)] == [["\x1f", "\u200b", "x"]] * 2


def test_csv_custom_separator(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", 'uid,groups\na,"cn=x,o=y|cn=z;still one"\n')
    table = read_export(path, options=ReadOptions(multi_valued=("groups",), separator="|"))
    assert rows(table) == [{"uid": "a", "groups": ["cn=x,o=y", "cn=z;still one"]}]


POWERSHELL_USE_CULTURE = (
    '#TYPE Microsoft.ActiveDirectory.Management.ADUser\r\n'
    '"sAMAccountName";"title";"memberOf"\r\n'
    '"jdoe";"Eng, Sales";"g1;g2"\r\n'
    '"asmith";"Ops";""\r\n'
)
SEMICOLON_HINT = (
    'the header looks ";"-separated, not ","-separated (as Export-Csv -UseCulture writes); '
    'set delimiter = ";" for this export in the config, or pass --delimiter ";" to '
    "recondiff ingest"
)


def test_csv_semicolon_delimiter(tmp_path: Path) -> None:
    """What PowerShell's Export-Csv -UseCulture writes where the comma is the decimal mark."""
    path = write(tmp_path, "u.csv", POWERSHELL_USE_CULTURE)
    table = read_export(path, options=ReadOptions(delimiter=";", multi_valued=("memberOf",)))
    assert rows(table) == [
        {"sAMAccountName": "jdoe", "title": "Eng, Sales", "memberOf": ["g1", "g2"]},
        {"sAMAccountName": "asmith", "title": "Ops", "memberOf": []},
    ]


def test_csv_tab_delimiter(tmp_path: Path) -> None:
    path = write(tmp_path, "u.tsv", "uid\tcn\na\tA, B\n")
    assert rows(read_export(path, "csv", ReadOptions(delimiter="\t"))) == [
        {"uid": "a", "cn": "A, B"}
    ]


def test_csv_quoted_semicolon_header_gets_the_delimiter_hint(tmp_path: Path) -> None:
    # before: "the header row is not valid CSV (',' expected after '"')"
    path = write(tmp_path, "u.csv", POWERSHELL_USE_CULTURE)
    assert message(path) == f"{path}: {SEMICOLON_HINT}"


def test_csv_unquoted_semicolon_header_gets_the_delimiter_hint(tmp_path: Path) -> None:
    # before: read as one column "sAMAccountName;title", the key then "not found"
    path = write(tmp_path, "u.csv", "\nsAMAccountName;title\njdoe;Eng\n")
    assert message(path) == f"{path}: {SEMICOLON_HINT}"


def test_csv_tab_header_gets_the_delimiter_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", "uid\tcn\na\tb\n")
    assert message(path) == (
        f'{path}: the header looks "\\t"-separated, not ","-separated (as Export-Csv '
        '-UseCulture writes); set delimiter = "\\t" for this export in the config, or pass '
        '--delimiter "\\t" to recondiff ingest'
    )


def test_csv_chosen_delimiter_is_not_second_guessed(tmp_path: Path) -> None:
    """One column named with an LDAP option (cn;lang-en) is read as asked."""
    path = write(tmp_path, "u.csv", "cn;lang-en\nJosé\n")
    assert rows(read_export(path, options=ReadOptions(delimiter=","))) == [{"cn;lang-en": "José"}]
    semicolons = write(tmp_path, "v.csv", "uid;cn\na;b\n")
    assert rows(read_export(semicolons, options=ReadOptions(delimiter=";"))) == [
        {"uid": "a", "cn": "b"}
    ]


def test_csv_semicolon_delimiter_names_rows_as_commas_do(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", "uid;cn\na;b\nc;d;e\n")
    assert message(path, options=ReadOptions(delimiter=";")) == (
        f'{path}: row 2 (line 3): 3 fields where the header has 2; quote values that '
        'contain the delimiter ";"'
    )


def test_csv_empty_separator_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", "a\n1\n")
    assert message(path, options=ReadOptions(separator="")) == (
        f"{path}: the multi-valued separator must not be empty"
    )


def test_csv_invalid_utf8_names_the_data_row(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", b'uid,cn\na,"two\nlines"\nb,caf\xe9\n')
    assert message(path) == f"{path}: row 2: not valid UTF-8 (byte 0xE9); {UTF8_ADVICE}"


def test_csv_invalid_utf8_after_bom_and_type_line(tmp_path: Path) -> None:
    data = codecs.BOM_UTF8 + b"#TYPE x\nuid\nok\n\nbad\xff\n"
    path = write(tmp_path, "u.csv", data)
    assert message(path) == f"{path}: row 2: not valid UTF-8 (byte 0xFF); {UTF8_ADVICE}"


def test_csv_invalid_utf8_in_header(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", b"uid,caf\xe9\na,b\n")
    assert message(path) == f"{path}: header: not valid UTF-8 (byte 0xE9); {UTF8_ADVICE}"


def test_csv_invalid_utf16(tmp_path: Path) -> None:
    data = codecs.BOM_UTF16_LE + "a\r\nb\r\n".encode("utf-16-le") + b"\x00\xdc"  # lone surrogate
    path = write(tmp_path, "u.csv", data)
    assert message(path) == (
        f"{path}: line 3: not valid UTF-16 (truncated or a lone surrogate); {UTF8_ADVICE}"
    )


def test_csv_utf16_without_bom_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", "uid,cn\r\na,b\r\n".encode("utf-16-le"))
    assert message(path) == (
        f"{path}: line 1: contains NUL characters; is it UTF-16 without a byte order mark? "
        f"{UTF8_ADVICE}"
    )


def test_csv_nul_in_a_key_names_row_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", "uid,cn\r\nalice,Alice\r\nb\x00ob,Bob\r\n")
    assert message(path) == (
        f'{path}: row 2 (line 3), column "uid": contains a NUL character (byte 0x00); '
        "remove it from the export"
    )


def test_csv_nul_in_a_quoted_value_after_a_multi_line_one(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", '#TYPE x\n uid ,cn\na,"two\nlines"\n\nb,"x\x00"\n')
    assert message(path) == (
        f'{path}: row 2 (line 6), column "cn": contains a NUL character (byte 0x00); '
        "remove it from the export"
    )


def test_csv_nul_in_a_header_after_the_type_line(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", "#TYPE x\nuid,c\x00n\na,b\n")
    assert message(path) == (
        f"{path}: header (line 2), column 2: contains a NUL character (byte 0x00); "
        "remove it from the export"
    )


def test_csv_nul_in_utf16_with_bom(tmp_path: Path) -> None:
    data = codecs.BOM_UTF16_LE + "uid,cn\r\na,x\x00y\r\n".encode("utf-16-le")
    path = write(tmp_path, "u.csv", data)
    assert message(path) == (
        f'{path}: row 1 (line 2), column "cn": contains a NUL character (byte 0x00); '
        "remove it from the export"
    )


def test_csv_too_few_fields(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", 'a,b,c\n1,"x\ny",3\n4,5\n')
    assert message(path) == (
        f"{path}: row 2 (line 4): 2 fields where the header has 3; quote values that contain commas"
    )


def test_csv_too_many_fields(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", "#TYPE x\na,b\n1,2\n\n3,Doe, John\n")
    assert message(path) == (
        f"{path}: row 2 (line 5): 3 fields where the header has 2; quote values that contain commas"
    )


def test_csv_unterminated_quote(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", 'a,b\n1,2\n3,"open\n5,6\n')
    assert message(path) == (
        f'{path}: row 2 (line 3): not valid CSV (unexpected end of data); is a quote (") left open?'
    )


def test_csv_quote_inside_unquoted_value_is_kept(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", "uid,height\na,5'11\"\n")
    assert rows(read_export(path)) == [{"uid": "a", "height": "5'11\""}]


def test_csv_duplicate_header_case_insensitive(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", "uid,Mail,mail\n1,2,3\n")
    assert message(path) == (
        f'{path}: header: columns "Mail" and "mail" differ only in case '
        "(attribute names are case-insensitive); rename or drop one of them"
    )


def test_csv_duplicate_header_exact(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", "uid,mail,mail\n1,2,3\n")
    assert message(path) == (
        f'{path}: header: column "mail" appears twice; rename or drop one of them'
    )


def test_csv_header_name_missing(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", "uid,,mail\n1,2,3\n")
    assert message(path) == f"{path}: column 2 of the header has no name; name it or remove it"


@pytest.mark.parametrize("data", [b"", b"\n\n", codecs.BOM_UTF8, b"#TYPE x\n"])
def test_csv_without_header(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path, "u.csv", data)
    assert message(path) == f"{path}: no header row; the first line must name the columns"


def test_csv_header_only_is_empty(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", "uid,memberOf\n")
    assert message(path) == f"{path}: {EMPTY}"
    table = read_export(path, options=ReadOptions(allow_empty=True, multi_valued=("memberOf",)))
    assert table.num_rows == 0
    assert table.column_names == ["uid", "memberOf"]
    assert table.schema.types == [TEXT, TEXTS]


def test_csv_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"
    assert message(path) == f"{path}: cannot read (No such file or directory)"


def test_csv_txt_extension_reads_as_csv(tmp_path: Path) -> None:
    assert rows(read_export(write(tmp_path, "u.txt", "a\n1\n"))) == [{"a": "1"}]


# --------------------------------------------------------------------- JSON Lines


def test_jsonl_fixture_conversions() -> None:
    table = read_export(DATA / "identities.jsonl")
    assert table.column_names == [
        "employee_id", "name", "email", "groups", "active", "age", "score",
        "manager", "address", "big", "tags",
    ]  # fmt: skip
    assert table.schema.field("groups").type == TEXTS
    assert table.schema.field("tags").type == TEXTS
    assert table.schema.field("age").type == TEXT
    first, second, third = rows(table)
    assert first == {
        "employee_id": "E001",
        "name": "John Doe",
        "email": "john.doe@corp.example",
        "groups": ["IT", "VPN"],  # null and "" dropped
        "active": "true",
        "age": "42",
        "score": "1.50",  # numbers keep the text they were written with
        "manager": None,
        "address": '{"city":"Zürich","zip":8001}',
        "big": None,
        "tags": None,
    }
    assert second["email"] == "zoe@corp.example"  # "Email" is the same attribute
    assert second["groups"] == ["Sales"]  # a scalar in a list column: one-element list
    assert second["active"] == "false"
    assert second["big"] == "1e5"
    assert third["groups"] == []
    assert third["tags"] == ["1", "true", '{"a":[1,2]}']


def test_jsonl_multi_valued_option(tmp_path: Path) -> None:
    path = write(tmp_path, "u.jsonl", '{"uid": "a", "mail": "a@x"}\n{"uid": "b"}\n')
    table = read_export(path, options=ReadOptions(multi_valued=("MAIL",)))
    assert table.schema.types == [TEXT, TEXTS]
    assert rows(table) == [{"uid": "a", "mail": ["a@x"]}, {"uid": "b", "mail": None}]


def test_jsonl_bad_json(tmp_path: Path) -> None:
    path = write(tmp_path, "u.jsonl", '{"uid": "a"}\n\n{"uid": }\n')
    assert message(path) == f"{path}: line 3: not valid JSON (Expecting value at column 9)"


def test_jsonl_json_array_file(tmp_path: Path) -> None:
    path = write(tmp_path, "u.json", '[{"uid": "a"}]\n')
    assert message(path) == (
        f"{path}: line 1: an array, not an object; JSON Lines needs one JSON object per line"
    )


@pytest.mark.parametrize(
    ("line", "kind"),
    [('"text"', "a string"), ("12", "a number"), ("true", "a boolean"), ("null", "null")],
)
def test_jsonl_non_object_lines(tmp_path: Path, line: str, kind: str) -> None:
    path = write(tmp_path, "u.jsonl", f'{{"uid": "a"}}\n{line}\n')
    assert message(path) == (
        f"{path}: line 2: {kind}, not an object; JSON Lines needs one JSON object per line"
    )


def test_jsonl_duplicate_keys_in_one_object(tmp_path: Path) -> None:
    path = write(tmp_path, "u.jsonl", '{"uid": "a", "Mail": "x", "mail": "y"}\n')
    assert message(path) == (
        f'{path}: line 1: keys: columns "Mail" and "mail" differ only in case '
        "(attribute names are case-insensitive); rename or drop one of them"
    )


def test_jsonl_invalid_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, "u.jsonl", b'{"uid": "a"}\n{"uid": "caf\xe9"}\n')
    assert message(path) == f"{path}: line 2: not valid UTF-8 (byte 0xE9); {UTF8_ADVICE}"


def test_jsonl_empty(tmp_path: Path) -> None:
    path = write(tmp_path, "u.jsonl", "\n  \n")
    assert message(path) == f"{path}: {EMPTY}"
    assert read_export(path, options=ReadOptions(allow_empty=True)).num_rows == 0


def test_jsonl_utf8_bom_and_crlf(tmp_path: Path) -> None:
    path = write(tmp_path, "u.ndjson", codecs.BOM_UTF8 + b'{"uid": "a"}\r\n{"uid": "b"}\r\n')
    assert rows(read_export(path)) == [{"uid": "a"}, {"uid": "b"}]


# ------------------------------------------------------------------------ Parquet


def test_parquet_types_are_cast_to_strings(tmp_path: Path) -> None:
    source = pa.table(
        {
            "uid": pa.array(["a", None], pa.large_string()),
            "n": pa.array([7, None], pa.int64()),
            "f": pa.array([1.5, 2.0]),
            "ok": pa.array([True, False]),
            "d": pa.array([dt.date(2024, 1, 15), None]),
            "ts": pa.array([dt.datetime(2024, 1, 15, 10, 30), None], pa.timestamp("s")),
            "tz": pa.array(
                [dt.datetime(2024, 1, 15, 10, 30, tzinfo=dt.UTC), None],
                pa.timestamp("ms", tz="Europe/Paris"),
            ),
            "dec": pa.array([decimal.Decimal("1.50"), None]),
            "cat": pa.array(["x", "y"]).dictionary_encode(),
            "none": pa.array([None, None], pa.null()),
            "groups": pa.array([["g1", "g2"], None], pa.large_list(pa.large_string())),
            "nums": pa.array([[1, 2], []], pa.list_(pa.int32())),
            "days": pa.array([[dt.date(2024, 2, 29)], None], pa.list_(pa.date32())),
        }
    )
    path = tmp_path / "in.parquet"
    pq.write_table(source, path)
    table = read_export(path)
    assert table.column_names == source.column_names
    assert table.schema.types == [TEXT] * 10 + [TEXTS] * 3
    assert rows(table) == [
        {
            "uid": "a",
            "n": "7",
            "f": "1.5",
            "ok": "true",
            "d": "2024-01-15",
            "ts": "2024-01-15T10:30:00.000",  # Parquet stores seconds as milliseconds
            "tz": "2024-01-15T10:30:00.000Z",
            "dec": "1.50",
            "cat": "x",
            "none": None,
            "groups": ["g1", "g2"],
            "nums": ["1", "2"],
            "days": ["2024-02-29"],
        },
        {
            "uid": None,
            "n": None,
            "f": "2",
            "ok": "false",
            "d": None,
            "ts": None,
            "tz": None,
            "dec": None,
            "cat": "y",
            "none": None,
            "groups": None,
            "nums": [],
            "days": None,
        },
    ]


def test_parquet_multi_valued_string_column_becomes_lists(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"uid": ["a", "b", "c"], "mail": ["a@x", None, ""]}), path)
    table = read_export(path, options=ReadOptions(multi_valued=("Mail",)))
    assert table.schema.types == [TEXT, TEXTS]
    assert [r["mail"] for r in rows(table)] == [["a@x"], None, []]


@pytest.mark.parametrize(
    ("array", "kind"),
    [
        (pa.array([b"\x00\x01"]), "binary"),
        (pa.array([{"a": 1}]), "struct<a: int64>"),
        (pa.array([[[1]]]), "list<element: list<element: int64>>"),
    ],
)
def test_parquet_unsupported_type(tmp_path: Path, array: pa.Array, kind: str) -> None:
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"uid": ["a"], "blob": array}), path)
    assert str(pq.read_schema(path).field("blob").type) == kind
    assert message(path) == (
        f'{path}: column "blob" has type {kind}, which recondiff cannot compare; '
        "export it as text (or a list of text)"
    )


def test_parquet_duplicate_columns_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table([pa.array(["a"]), pa.array(["b"])], names=["uid", "UID"]), path)
    assert message(path) == (
        f'{path}: columns "uid" and "UID" differ only in case '
        "(attribute names are case-insensitive); rename or drop one of them"
    )


def test_parquet_empty(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"uid": pa.array([], pa.string())}), path)
    assert message(path) == f"{path}: {EMPTY}"
    assert read_export(path, options=ReadOptions(allow_empty=True)).column_names == ["uid"]


def _corrupt_message(path: Path) -> str:
    prefix = f"{path}: not a readable Parquet file (truncated or corrupt?): "
    suffix = "; re-export it or re-run recondiff ingest"
    with pytest.raises(InputError) as caught:
        read_export(path)
    text = str(caught.value)
    assert text.startswith(prefix)
    assert text.endswith(suffix)
    assert len(text) > len(prefix) + len(suffix)  # a reason is given
    with pytest.raises(InputError) as again:
        read_snapshot_info(path)
    assert str(again.value).startswith(prefix)
    return text


def test_truncated_parquet(tmp_path: Path) -> None:
    whole = tmp_path / "whole.parquet"
    pq.write_table(pa.table({"uid": [f"u{i}" for i in range(1000)]}), whole)
    data = whole.read_bytes()
    truncated = write(tmp_path, "cut.parquet", data[: len(data) // 2])
    _corrupt_message(truncated)


def test_not_a_parquet_file(tmp_path: Path) -> None:
    path = write(tmp_path, "x.parquet", "uid,mail\na,b\n")
    _corrupt_message(path)
    empty = write(tmp_path, "empty.parquet", b"")
    _corrupt_message(empty)


# ---------------------------------------------------------------- ingest/snapshot


def test_ingest_writes_snapshot_with_metadata(tmp_path: Path) -> None:
    source = write(tmp_path, "u.csv", "uid,memberOf\na,g1;g2\nb,\n")
    mtime = dt.datetime(2024, 3, 1, 12, 0, 30, tzinfo=dt.UTC)
    os.utime(source, (mtime.timestamp(), mtime.timestamp()))
    out = tmp_path / "snaps" / "endpoint.parquet"
    info = ingest(source, out, options=ReadOptions(multi_valued=("memberOf",)))

    assert info == SnapshotInfo(
        path=out,
        rows=2,
        captured_at=mtime,
        source=str(source),
        source_sha256=hashlib.sha256(source.read_bytes()).hexdigest(),
        sha256=hashlib.sha256(out.read_bytes()).hexdigest(),
        format="csv",
        recondiff_version=recondiff.__version__,
    )
    assert read_snapshot_info(out) == info

    parquet = pq.ParquetFile(out)
    meta = {k.decode(): v.decode() for k, v in parquet.schema_arrow.metadata.items()}
    assert meta == {
        "recondiff.captured_at": "2024-03-01T12:00:30+00:00",
        "recondiff.source": str(source),
        "recondiff.source_sha256": info.source_sha256,
        "recondiff.rows": "2",
        "recondiff.format": "csv",
        "recondiff.version": recondiff.__version__,
    }
    assert parquet.metadata.row_group(0).column(0).compression == "ZSTD"
    table = pq.read_table(out)
    assert rows(table) == [{"uid": "a", "memberOf": ["g1", "g2"]}, {"uid": "b", "memberOf": []}]
    assert [p.name for p in out.parent.iterdir()] == ["endpoint.parquet"]


def test_ingest_explicit_captured_at(tmp_path: Path) -> None:
    source = DATA / "ldifde-users.ldif"
    out = tmp_path / "ad.parquet"
    paris = dt.timezone(dt.timedelta(hours=1))
    info = ingest(source, out, captured_at=dt.datetime(2024, 5, 1, 9, 0, tzinfo=paris))
    assert info.captured_at == dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.UTC)
    assert info.captured_at.tzinfo == dt.UTC
    assert info.format == "ldif"
    assert read_snapshot_info(out).captured_at == info.captured_at
    naive = ingest(source, out, captured_at=dt.datetime(2024, 5, 1, 9, 0))
    assert naive.captured_at == dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)


def test_ingest_ldifde_fixture() -> None:
    table = read_export(DATA / "ldifde-users.ldif")
    john, zoe = rows(table)
    assert john["dn"] == "CN=John Doe,OU=Users,DC=corp,DC=example"
    assert john["objectGUID"] == "3q2+7wEjRWeJq83vASNFZw=="  # binary: kept as base64
    assert john["memberOf"] == [
        "CN=IT,OU=Groups,DC=corp,DC=example",
        "CN=VPN Users,OU=Groups,DC=corp,DC=example",
    ]
    assert john["description"] == " Zöë has spaces around "
    assert zoe["dn"] == "CN=Zoë Ångström,OU=Users,DC=corp,DC=example"
    assert zoe["cn"] == "Zoë Ångström"
    assert zoe["userAccountControl"] == "514"
    assert "changetype" not in [n.lower() for n in table.column_names]


def test_ingest_snapshot_source_keeps_its_capture_time(tmp_path: Path) -> None:
    first = tmp_path / "first.parquet"
    when = dt.datetime(2023, 12, 24, 18, 0, tzinfo=dt.UTC)
    ingest(DATA / "identities.jsonl", first, captured_at=when)
    second = ingest(first, tmp_path / "second.parquet")
    assert second.captured_at == when
    assert second.format == "parquet"
    assert second.source == str(first)
    assert second.rows == 3
    assert pq.read_table(second.path).equals(pq.read_table(first))
    later = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert ingest(first, tmp_path / "third.parquet", captured_at=later).captured_at == later


def test_ingest_in_place_over_its_source(tmp_path: Path) -> None:
    snap = tmp_path / "s.parquet"
    when = dt.datetime(2023, 1, 2, tzinfo=dt.UTC)
    ingest(DATA / "identities.jsonl", snap, captured_at=when)
    again = ingest(snap, snap)
    assert again.captured_at == when
    assert again.rows == 3


def test_read_snapshot_info_of_foreign_parquet(tmp_path: Path) -> None:
    path = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"uid": ["a", "b", "c"]}), path)
    mtime = dt.datetime(2022, 2, 2, 2, 2, 2, tzinfo=dt.UTC)
    os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert read_snapshot_info(path) == SnapshotInfo(
        path=path,
        rows=3,
        captured_at=mtime,
        source=str(path),
        source_sha256=digest,
        sha256=digest,
        format="parquet",
        recondiff_version="",
    )


def test_read_snapshot_info_bad_captured_at(tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    table = pa.table({"uid": ["a"]}).replace_schema_metadata({"recondiff.captured_at": "yesterday"})
    pq.write_table(table, path)
    with pytest.raises(InputError) as caught:
        read_snapshot_info(path)
    assert str(caught.value) == (
        f'{path}: recondiff.captured_at "yesterday" is not an ISO 8601 time; '
        "re-run recondiff ingest"
    )


def test_read_snapshot_info_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        read_snapshot_info(tmp_path / "nope.parquet")
    assert (
        str(caught.value) == f"{tmp_path / 'nope.parquet'}: cannot read (No such file or directory)"
    )


def test_ingest_bad_source_leaves_nothing(tmp_path: Path) -> None:
    source = write(tmp_path, "u.csv", "a,b\n1\n")
    out = tmp_path / "out.parquet"
    out.write_bytes(b"previous snapshot")
    with pytest.raises(InputError, match="1 fields where the header has 2"):
        ingest(source, out)
    assert out.read_bytes() == b"previous snapshot"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet", "u.csv"]


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_ingest_failed_write_removes_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    source = write(tmp_path, "u.csv", "a\n1\n")
    out = tmp_path / "out.parquet"
    out.write_bytes(b"previous snapshot")
    temps: list[Path] = []
    real_write = pq.ParquetWriter.write_table  # a CSV is written a batch at a time

    def write_then_fail(writer: pq.ParquetWriter, table: pa.Table, **kwargs: Any) -> None:
        real_write(writer, table, **kwargs)
        temps.append(Path(writer.where))
        raise failure

    monkeypatch.setattr(pq.ParquetWriter, "write_table", write_then_fail)
    expected = InputError if isinstance(failure, OSError) else KeyboardInterrupt
    with pytest.raises(expected) as caught:
        ingest(source, out)
    if isinstance(failure, OSError):
        assert str(caught.value) == f"{out}: cannot write the snapshot (No space left on device)"
    assert temps and temps[0].name.startswith("out.parquet.tmp-")
    assert temps[0].parent == tmp_path
    assert not temps[0].exists()
    assert out.read_bytes() == b"previous snapshot"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet", "u.csv"]


def test_ingest_failed_rename_removes_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write(tmp_path, "u.csv", "a\n1\n")

    def no_replace(src: str, dst: str) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", no_replace)
    with pytest.raises(InputError, match=r"cannot write the snapshot \(Permission denied\)"):
        ingest(source, tmp_path / "out.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u.csv"]


def test_ingest_empty_source_needs_allow_empty(tmp_path: Path) -> None:
    source = write(tmp_path, "u.jsonl", "")
    out = tmp_path / "out.parquet"
    with pytest.raises(InputError, match="no records"):
        ingest(source, out)
    assert not out.exists()
    info = ingest(source, out, options=ReadOptions(allow_empty=True))
    assert info.rows == 0
    assert read_snapshot_info(out).rows == 0


def test_file_sha256_streams_large_files(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)
    path = write(tmp_path, "blob.bin", data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    with pytest.raises(InputError, match="cannot read"):
        file_sha256(tmp_path / "missing.bin")


def test_snapshot_round_trip_equals_read_export(tmp_path: Path) -> None:
    source = DATA / "ps5-users.csv"
    options = ReadOptions(multi_valued=("memberOf",))
    out = tmp_path / "ps.parquet"
    ingest(source, out, options=options)
    assert (
        pq.read_table(out).replace_schema_metadata(None).equals(read_export(source, None, options))
    )
    assert json.loads(json.dumps(rows(read_export(out))))[0]["SamAccountName"] == "jdoe"


def test_csv_long_field_with_a_stray_quote_elsewhere(tmp_path: Path) -> None:
    # The odd quote count sends the file through the Python check, whose
    # default 128 KiB field limit must not turn a long memberOf into an error.
    groups = ";".join(f"cn=group{i},ou=groups,dc=example,dc=com" for i in range(6000))
    path = write(tmp_path, "u.csv", f'uid,height,memberOf\na,5\'11",x\nb,6,"{groups}"\n')
    table = read_export(path, options=ReadOptions(multi_valued=("memberOf",)))
    assert len(rows(table)[1]["memberOf"]) == 6000
    assert rows(table)[0]["height"] == "5'11\""


def test_csv_record_larger_than_a_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_table, "_CSV_BLOCK", 64)
    path = write(tmp_path, "u.csv", "uid,note\na," + "x" * 500 + "\n")
    text = message(path)
    assert text.startswith(f"{path}: not a readable CSV file (")
