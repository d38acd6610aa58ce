"""Second reader's attacks on the input handling of issue 14 items 17-21
(LDIF folds and extended DNs, the CSV delimiter, NFC keys, NUL, long values
in the report). Each test names what it tried; the ones that broke the change
were fixed in the commit that added them."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from recondiff.errors import InputError
from recondiff.ingest import read_export
from recondiff.ldif import LdifRecord, parse_ldif, read_ldif


def parse(text: str) -> list[LdifRecord]:
    return list(parse_ldif(enumerate(text.split("\n"), start=1), "t.ldif"))


def write(tmp_path: Path, data: bytes, name: str = "x.ldif") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- LDIF ------------------------------------------------------------------------------


def test_a_value_that_is_no_dn_keeps_a_guid_like_prefix() -> None:
    """Hole: every value that began with <GUID=..>; or <SID=..>; lost that prefix, DN
    or not, so a self-service title "<GUID=1>;Engineer" read as "Engineer" and
    compared in sync with the identity system's "Engineer"."""
    records = parse(
        "dn: uid=a,dc=x\ntitle: <GUID=1>;Engineer\ndescription: <SID=S-1-5-21-9>;<GUID=2>;CEO\n"
        "member: <SID=S-1-5-21-9>;CN=Bob,DC=x\n"
    )
    assert records[0].attributes == {
        "title": ["<GUID=1>;Engineer"],
        "description": ["<SID=S-1-5-21-9>;<GUID=2>;CEO"],
        "member": ["CN=Bob,DC=x"],  # an extended DN with a SID only is still read
    }


def test_a_malformed_extended_dn_is_kept_as_written() -> None:
    records = parse("dn: <GUID=abc;CN=Jane,DC=x\nmember: <GUID=abc;CN=Bob,DC=x\n")
    assert records[0].dn == "<GUID=abc;CN=Jane,DC=x"
    assert records[0].attributes["member"] == ["<GUID=abc;CN=Bob,DC=x"]


def test_folds_split_a_four_byte_emoji_and_crlf_folds(tmp_path: Path) -> None:
    emoji = "😀".encode()
    path = write(
        tmp_path,
        b"dn: uid=a,dc=x\r\ncn: x" + emoji[:1] + b"\r\n " + emoji[1:3] + b"\r\n " + emoji[3:]
        + b"y\r\nsn: ab\r\n c\xc3\r\n \xa9\r\n",
    )
    assert next(read_ldif(path)).attributes == {"cn": ["x😀y"], "sn": ["abcé"]}


@pytest.mark.parametrize("fold", [b"\n ", b"\n  ", b"\r\n "])
def test_a_fold_right_after_the_double_colon_and_inside_base64(tmp_path: Path, fold: bytes) -> None:
    encoded = base64.b64encode("josé héllo".encode())
    path = write(
        tmp_path, b"dn: uid=a,dc=x\ncn::" + fold + encoded[:5] + b"\n " + encoded[5:] + b"\n"
    )
    assert next(read_ldif(path)).attributes == {"cn": ["josé héllo"]}


def test_base64_decoding_to_nul_or_escape_stays_base64_and_a_dn_is_refused(
    tmp_path: Path,
) -> None:
    nul = base64.b64encode(b"a\x00b").decode()
    esc = base64.b64encode(b"a\x1b[31mb").decode()
    assert parse(f"dn: uid=a,dc=x\ncn:: {nul}\nsn:: {esc}\n")[0].attributes == {
        "cn": [nul],
        "sn": [esc],
    }
    dn = base64.b64encode(b"uid=a\x00,dc=x").decode()
    with pytest.raises(InputError, match=r'line 1: "dn::" is not base64 of UTF-8 text'):
        parse(f"dn:: {dn}\n")


# --- JSON Lines ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        '{"uid": "a\\ud83d"}',  # a key cut in the middle of an emoji
        '{"uid": "a", "t\\udc00": "x"}',  # in a name
        '{"uid": "a", "t": [{"n": "\\ude00"}]}',  # in a nested object kept as JSON text
    ],
)
def test_a_lone_surrogate_in_json_lines_is_one_line_not_a_crash(tmp_path: Path, line: str) -> None:
    """Hole: Python's json accepts "\\ud83d" alone; the snapshot cannot hold it and
    ingest died with UnicodeEncodeError (exit 3, "a bug in recondiff")."""
    path = write(tmp_path, (line + "\n").encode(), "x.jsonl")
    with pytest.raises(InputError, match=r"x\.jsonl: line 1: a \\u escape is half of a UTF-16"):
        read_export(path)


def test_a_surrogate_pair_and_an_escaped_backslash_still_read(tmp_path: Path) -> None:
    path = write(tmp_path, b'{"uid": "a\\\\ud83d", "t": "\\ud83d\\ude00"}\n', "x.jsonl")
    assert read_export(path).to_pylist() == [{"uid": "a\\ud83d", "t": "😀"}]
