"""The LDIF reader: RFC 2849 rules, refusals, and real third-party files (tests/data/third_party)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pyarrow as pa
import pytest

from recondiff.errors import InputError
from recondiff.ingest.exports import ReadOptions, read_export
from recondiff.ingest.ldif import LdifRecord, decode_base64_value, parse_ldif, read_ldif

THIRD_PARTY = Path(__file__).resolve().parent / "data" / "third_party"
OPENLDAP = THIRD_PARTY / "openldap"
FUTURAMA = THIRD_PARTY / "futurama"


def parse(text: str) -> list[LdifRecord]:
    lines = enumerate(text.split("\n"), start=1)
    return list(parse_ldif(lines, "t.ldif"))


def refuse(text: str) -> str:
    with pytest.raises(InputError) as caught:
        parse(text)
    return str(caught.value)


def write(tmp_path: Path, data: str | bytes, name: str = "x.ldif") -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8", newline="")
    else:
        path.write_bytes(data)
    return path


def dn_count(path: Path) -> int:
    """Entries counted independently of the parser: lines starting with "dn:"."""
    return sum(1 for line in path.read_bytes().splitlines() if line.startswith(b"dn:"))


# ----------------------------------------------------------------- parser rules


def test_simple_records_with_version_and_blank_lines() -> None:
    records = parse("version: 1\n\ndn: cn=a,dc=x\ncn: a\nmail: a@x\n\n\ndn: cn=b,dc=x\ncn: b\n")
    assert records == [
        LdifRecord("cn=a,dc=x", {"cn": ["a"], "mail": ["a@x"]}, 3),
        LdifRecord("cn=b,dc=x", {"cn": ["b"]}, 8),
    ]


def test_version_directly_followed_by_dn() -> None:
    assert parse("version: 1\ndn: cn=a\ncn: a\n")[0].dn == "cn=a"


def test_unsupported_version_is_refused() -> None:
    assert refuse("version: 2\n\ndn: cn=a\n") == (
        't.ldif: line 1: LDIF version "2" is not supported; only "version: 1" is'
    )


def test_folded_lines_join_without_the_leading_space() -> None:
    records = parse("dn: cn=a,\n dc=x\ndescription: one\n  two\n  three\n")
    assert records[0].dn == "cn=a,dc=x"
    # Only the first space of a continuation is dropped.
    assert records[0].attributes["description"] == ["one two three"]


def test_folded_base64_value() -> None:
    encoded = base64.b64encode(b"hello world").decode()
    records = parse(f"dn: cn=a\ncn:: {encoded[:5]}\n {encoded[5:]}\n")
    assert records[0].attributes["cn"] == ["hello world"]


def test_comments_and_folded_comments_are_ignored() -> None:
    text = (
        "# leading comment\n"
        "dn: cn=a\n"
        "# comment inside\n"
        " continued comment: not an attribute\n"
        "cn: a\n"
        "#trailing\n"
    )
    assert parse(text) == [LdifRecord("cn=a", {"cn": ["a"]}, 2)]


def test_value_spaces_leading_dropped_trailing_kept() -> None:
    records = parse("dn: cn=a\ndescription:    padded  \nempty:\nspace: \n")
    assert records[0].attributes == {
        "description": ["padded  "],
        "empty": [""],
        "space": [""],
    }


def test_base64_value_keeps_surrounding_spaces() -> None:
    encoded = base64.b64encode(b" Jensen ").decode()
    assert parse(f"dn: cn=a\nsn:: {encoded}\n")[0].attributes["sn"] == [" Jensen "]


def test_base64_utf8_text_is_decoded() -> None:
    encoded = base64.b64encode("Zoë Ångström\nline 2".encode()).decode()
    assert parse(f"dn: cn=a\ncn:: {encoded}\n")[0].attributes["cn"] == ["Zoë Ångström\nline 2"]


def test_base64_binary_stays_base64() -> None:
    jpeg = base64.b64encode(b"\xff\xd8\xff\xe0\x00\x10JFIF").decode()
    guid = base64.b64encode(b"\x01\x02abc\x00def").decode()  # valid UTF-8, but control bytes
    records = parse(f"dn: cn=a\njpegPhoto:: {jpeg}\nobjectGUID:: {guid}\n")
    assert records[0].attributes == {"jpegPhoto": [jpeg], "objectGUID": [guid]}


def test_binary_option_is_dropped_and_value_stays_base64() -> None:
    encoded = base64.b64encode(b"text-looking").decode()
    records = parse(f"dn: cn=a\nuserCertificate;binary:: {encoded}\n")
    assert records[0].attributes == {"userCertificate": [encoded]}


def test_other_options_stay_part_of_the_name() -> None:
    records = parse("dn: cn=a\ncn: Anna\ncn;lang-de: Anna DE\n")
    assert records[0].attributes == {"cn": ["Anna"], "cn;lang-de": ["Anna DE"]}


def test_attribute_names_case_insensitive_first_spelling_kept() -> None:
    records = parse("dn: cn=a\nobjectClass: top\nobjectclass: person\nOBJECTCLASS: x\n")
    assert records[0].attributes == {"objectClass": ["top", "person", "x"]}


def test_base64_dn() -> None:
    encoded = base64.b64encode("cn=Zoë,dc=x".encode()).decode()
    assert parse(f"dn:: {encoded}\ncn: z\n")[0].dn == "cn=Zoë,dc=x"


def test_base64_dn_that_is_not_text_is_refused() -> None:
    encoded = base64.b64encode(b"\xff\xfe").decode()
    assert refuse(f"dn:: {encoded}\n") == 't.ldif: line 1: "dn::" is not base64 of UTF-8 text'


def test_invalid_base64_is_refused() -> None:
    assert refuse("dn: cn=a\ncn:: @@@@\n") == (
        't.ldif: line 2: the value of "cn::" is not valid base64'
    )


def test_base64_without_padding_is_accepted() -> None:
    assert parse("dn: cn=a\ncn:: YWI\n")[0].attributes["cn"] == ["ab"]
    assert parse("dn:: Y249YQ\ncn:: YQ\n")[0] == LdifRecord("cn=a", {"cn": ["a"]}, 1)


def test_base64_of_an_impossible_length_is_refused() -> None:
    # 5 characters: no padding makes that whole bytes
    assert refuse("dn: cn=a\ncn:: YWJjZ\n") == (
        't.ldif: line 2: the value of "cn::" is not valid base64'
    )


def test_changetype_add_is_read_as_content() -> None:
    records = parse("dn: cn=a\nchangetype: add\ncn: a\n")
    assert records == [LdifRecord("cn=a", {"cn": ["a"]}, 1)]


@pytest.mark.parametrize("kind", ["modify", "delete", "modrdn", "moddn"])
def test_change_records_are_refused(kind: str) -> None:
    assert refuse(f"dn: cn=a\nchangetype: {kind}\nreplace: cn\ncn: b\n-\n") == (
        f"t.ldif: line 2: change records (changetype: {kind}) are not supported; "
        "export the entries as content records"
    )


def test_controls_are_refused() -> None:
    assert refuse("dn: cn=a\ncontrol: 1.2.840.113556.1.4.805 true\nchangetype: delete\n") == (
        "t.ldif: line 2: LDIF controls are not supported; export the entries as content records"
    )


def test_url_values_are_refused() -> None:
    assert refuse("dn: cn=a\njpegPhoto:< file:///tmp/a.jpg\n") == (
        't.ldif: line 2: "jpegPhoto:<" takes the value from a URL, which is not supported; '
        "export the value inline"
    )


def test_line_without_colon_is_refused() -> None:
    long_line = "this line has no colon and goes on for quite a while longer"
    assert refuse(f"dn: cn=a\ncn: a\n{long_line}\n") == (
        f't.ldif: line 3: no ":" in "{long_line[:40]}"; each LDIF line is "attribute: value"'
    )


def test_bad_attribute_name_is_refused() -> None:
    assert refuse("dn: cn=a\nfull name: x\n") == (
        't.ldif: line 2: "full name" is not an attribute name; each LDIF line is "attribute: value"'
    )


def test_record_not_starting_with_dn_is_refused() -> None:
    assert refuse("cn: a\ndn: cn=a\n") == (
        't.ldif: line 1: a record must start with "dn:", not "cn:"; '
        "is a blank line missing or one too many?"
    )
    assert refuse("dn: cn=a\ncn: a\n\nsn: b\n") == (
        't.ldif: line 4: a record must start with "dn:", not "sn:"; '
        "is a blank line missing or one too many?"
    )


def test_continuation_after_blank_line_is_refused() -> None:
    assert refuse("dn: cn=a\n\n continued\n") == (
        't.ldif: line 3: continuation line (starts with a space) follows no line: " continued"'
    )


def test_dn_without_blank_line_starts_a_new_record() -> None:
    records = parse("dn: cn=a\ncn: a\ndn: cn=b\ncn: b\n")
    assert [r.dn for r in records] == ["cn=a", "cn=b"]


def test_empty_and_comment_only_inputs_have_no_records() -> None:
    assert parse("") == []
    assert parse("# nothing here\n\nversion: 1\n") == []


def test_crlf_and_bom(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xef\xbb\xbfversion: 1\r\n\r\ndn: cn=a\r\ncn: a \r\n x\r\n")
    assert list(read_ldif(path)) == [LdifRecord("cn=a", {"cn": ["a x"]}, 3)]


def test_utf16_with_bom(tmp_path: Path) -> None:
    text = "dn: cn=Zoë\r\ncn: Zoë\r\n\r\ndn: cn=b\r\ncn: b\r\n"
    path = write(tmp_path, text.encode("utf-16"))
    assert [r.attributes["cn"] for r in read_ldif(path)] == [["Zoë"], ["b"]]


def test_invalid_utf8_names_line_and_byte(tmp_path: Path) -> None:
    path = write(tmp_path, b"dn: cn=a\ncn: caf\xe9\n")
    with pytest.raises(InputError) as caught:
        list(read_ldif(path))
    assert str(caught.value) == (
        f"{path}: line 2: not valid UTF-8 (byte 0xE9); save the export as UTF-8 "
        "(or UTF-16 with a BOM)"
    )


def _fold_at_bytes(line: str, width: int) -> bytes:
    """Fold ``line`` every ``width`` bytes, as ldapsearch and slapcat do: blind to
    UTF-8, so a fold may split a character."""
    data = line.encode("utf-8")
    pieces = [data[i : i + width] for i in range(0, len(data), width)]
    return b"\n ".join(pieces) + b"\n"


def test_a_fold_between_the_bytes_of_one_character_is_read(tmp_path: Path) -> None:
    """RFC 2849 folds at bytes: "é" is C3 A9, and the fold falls between them."""
    description = "description: Réseau et télécoms, équipe Zoë"
    folded = _fold_at_bytes(description, 15)
    assert folded.startswith(b"description: R\xc3\n \xa9seau")  # the fold splits "é"
    path = write(tmp_path, b"dn: cn=Jos\xc3\n \xa9,dc=x\ncn: Jos\xc3\xa9\n" + folded)
    records = list(read_ldif(path))
    assert records == [
        LdifRecord("cn=José,dc=x", {"cn": ["José"], "description": [description[13:]]}, 1)
    ]
    assert read_export(path).to_pylist()[0]["dn"] == "cn=José,dc=x"


def test_bad_utf8_in_a_folded_line_names_its_physical_line(tmp_path: Path) -> None:
    path = write(tmp_path, b"dn: cn=a\ndescription: one\n two \xe9\n three\n")
    with pytest.raises(InputError) as caught:
        list(read_ldif(path))
    assert str(caught.value) == (
        f"{path}: line 3: not valid UTF-8 (byte 0xE9); save the export as UTF-8 "
        "(or UTF-16 with a BOM)"
    )


def test_nul_in_a_folded_line_names_its_physical_line(tmp_path: Path) -> None:
    path = write(tmp_path, b"dn: cn=a\ndescription: one\n two\n th\x00ree\n")
    with pytest.raises(InputError, match=r": line 4: contains NUL characters"):
        list(read_ldif(path))


def test_folds_after_comments_and_blank_lines_keep_their_rules(tmp_path: Path) -> None:
    data = b"# a comment\n  folded into it\n\ndn: cn=a\ncn: a\n \n"
    assert list(read_ldif(write(tmp_path, data))) == [LdifRecord("cn=a", {"cn": ["a"]}, 4)]
    with pytest.raises(InputError, match=r"line 3: continuation line .* follows no line"):
        list(read_ldif(write(tmp_path, b"dn: cn=a\n\n x\n", "y.ldif")))


def test_an_empty_value_is_the_empty_string_which_compare_treats_as_no_value(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "dn: cn=a\ndescription:\nmember:\n\ndn: cn=b\n")
    assert next(read_ldif(path)).attributes == {"description": [""], "member": [""]}
    # single-valued: kept as ""; in a list: dropped (docs/semantics.md, Inputs)
    assert read_export(path, options=ReadOptions(multi_valued=("member",))).to_pylist() == [
        {"dn": "cn=a", "description": "", "member": []},
        {"dn": "cn=b", "description": None, "member": None},
    ]


@pytest.mark.parametrize(
    ("line", "dn"),
    [
        (
            "dn: <GUID=b3b7a1d2-0b5e-4ea4-9b3a-2f1e0c5d6a7b>;<SID=S-1-5-21-1-2-3-1104>;"
            "CN=Jane Doe,OU=Staff,DC=example,DC=org",
            "CN=Jane Doe,OU=Staff,DC=example,DC=org",
        ),
        ("dn: <GUID=0f1e2d3c4b5a69788796a5b4c3d2e1f0>;OU=Staff,DC=example,DC=org",
         "OU=Staff,DC=example,DC=org"),
        ("dn: <guid=1>;<sid=2>;cn=a", "cn=a"),
        ("dn: <GUID=1>;", "<GUID=1>;"),  # nothing after the prefix: kept as written
        ("dn: <UID=jsmith,O=example,C=US>", "<UID=jsmith,O=example,C=US>"),  # RFC 1779
    ],
)
def test_ad_extended_dns_are_read_as_the_plain_dn(line: str, dn: str) -> None:
    assert parse(f"{line}\ncn: a\n")[0].dn == dn


def test_ad_extended_dn_values_are_read_as_the_plain_dn() -> None:
    encoded = base64.b64encode("<GUID=1>;CN=Zoë,DC=x".encode()).decode()
    records = parse(
        "dn: CN=g,DC=x\nmember: <GUID=2>;<SID=S-1-5-21-9>;CN=A,DC=x\n"
        f"member:: {encoded}\nmember: UID=jsmith;O=example;C=US\n"
    )
    assert records[0].attributes["member"] == ["CN=A,DC=x", "CN=Zoë,DC=x", "UID=jsmith;O=example;C=US"]


def test_rfc_1779_dns_are_kept_as_written() -> None:
    """Semicolons between RDNs, quotes and brackets (tests/data/third_party/openldap/test-dn.ldif)."""
    path = OPENLDAP / "test-dn.ldif"
    records = {r.dn: r.attributes for r in read_ldif(path)}
    v2 = "ou=LDAPv2,dc=example,dc=com"
    assert records[f"cn=May Succeed 4,{v2}"]["member"] == ["UID=jsmith;O=example;C=US"]
    assert records[f"cn=May Succeed 5,{v2}"]["member"] == ["<UID=jsmith,O=example,C=US>"]
    assert records[f"cn=May Succeed 6,{v2}"]["member"] == ['CN="John Smith",O=example,C=US']


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.ldif"
    with pytest.raises(InputError, match=r"nope\.ldif: cannot read \(No such file"):
        list(read_ldif(path))


def test_decode_base64_value() -> None:
    assert decode_base64_value("IEplbnNlbiA=") == " Jensen "
    assert decode_base64_value("/9j/") is None
    assert decode_base64_value("") == ""


# ----------------------------------------------------------- LDIF as a table


def test_table_columns_types_and_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "dn: cn=a\ncn: a\nmemberOf: g1\nmemberOf: g2\n\n"
        "dn: cn=b\nCN: b\nmail: b@x\nmemberOf: g3\nmemberof: \n\n"
        "dn: cn=c\nmail: c@x\n",
    )
    table = read_export(path, options=ReadOptions(multi_valued=("MAIL",)))
    assert table.column_names == ["dn", "cn", "memberOf", "mail"]
    text, texts = pa.string(), pa.list_(pa.string())
    assert table.schema.types == [text, text, texts, texts]
    assert table.to_pylist() == [
        {"dn": "cn=a", "cn": "a", "memberOf": ["g1", "g2"], "mail": None},
        {"dn": "cn=b", "cn": "b", "memberOf": ["g3"], "mail": ["b@x"]},
        {"dn": "cn=c", "cn": None, "memberOf": None, "mail": ["c@x"]},
    ]


def test_no_entries_is_refused_unless_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\n# nothing\n")
    with pytest.raises(InputError) as caught:
        read_export(path)
    assert str(caught.value) == (
        f"{path}: no records; an empty export would make every account look orphaned. "
        "Pass --allow-empty if it really is empty"
    )
    table = read_export(path, options=ReadOptions(allow_empty=True))
    assert table.num_rows == 0
    assert table.column_names == ["dn"]


# ------------------------------------------------------- real third-party files


def test_third_party_data_is_present() -> None:
    assert OPENLDAP.is_dir(), f"missing {OPENLDAP}"
    assert FUTURAMA.is_dir(), f"missing {FUTURAMA}"


@pytest.mark.parametrize(
    ("name", "entries"),
    [
        ("test-dirsync-nocp.ldif", 20),
        ("regressions_its9282_exampledb.ldif", 1011),
        ("regressions_its8800_db.ldif", 305),
        ("test-dn.ldif", 35),
    ],
)
def test_openldap_entry_counts(name: str, entries: int) -> None:
    path = OPENLDAP / name
    assert dn_count(path) == entries
    records = list(read_ldif(path))
    assert len(records) == entries
    assert read_export(path).num_rows == entries


def test_dirsync_values() -> None:
    path = OPENLDAP / "test-dirsync-nocp.ldif"
    records = {r.dn: r for r in read_ldif(path)}
    itd = "ou=Information Technology Division,ou=People,dc=example,dc=com"
    barbara = records[f"cn=Barbara Jensen,{itd}"]
    assert barbara.attributes["sn"] == [" Jensen "]  # "sn:: IEplbnNlbiA="
    assert barbara.attributes["userpassword"] == ["bjensen"]
    assert barbara.attributes["postaladdress"] == [
        "ITD Prod Dev & Deployment $ 535 W. William St. Room 4212 $ Anytown, MI 48103-4943"
    ]
    assert barbara.line == 29
    people = records["ou=People,dc=example,dc=com"]
    assert people.attributes == {
        "objectclass": ["organizationalUnit", "domainRelatedObject"],
        "ou": ["People"],
        "associatedDomain": ["test.openldap.org"],
    }
    assert records["ou=testdomain2,dc=example,dc=com"].attributes["description"] == [
        "Example, Inc. modify then modrdn test domain "
    ]
    assert len(records["cn=All Staff,ou=Groups,dc=example,dc=com"].attributes["member"]) == 11

    table = read_export(path)
    assert table.column_names[0] == "dn"
    schema = table.schema
    assert schema.field("sn").type == pa.string()
    assert schema.field("objectclass").type == pa.list_(pa.string())
    assert schema.field("description").type == pa.list_(pa.string())
    assert schema.field("uniquemember").type == pa.list_(pa.string())
    rows = {row["dn"]: row for row in table.to_pylist()}
    assert rows[barbara.dn]["sn"] == " Jensen "
    assert rows[itd]["description"] == [
        "MSAD doesn't like long descriptions",
        "5K and 3K are too big",
    ]


def test_its9282_has_999_people() -> None:
    path = OPENLDAP / "regressions_its9282_exampledb.ldif"
    table = read_export(path)
    people = [r for r in table.to_pylist() if "inetOrgPerson" in r["objectClass"]]
    assert len(people) == 999
    katha = next(r for r in people if r["dn"] == "cn=Katha Petree, ou=Peons, dc=example,dc=com")
    assert katha["manager"] == "cn=Crissie Wayler"  # dangling reference, kept as written
    assert katha["mail"] == "Katha_Petree@example.com"
    assert katha["postalAddress"] == "example$Peons$Dept # 533"
    ous = [r["dn"] for r in table.to_pylist() if "organizationalunit" in r["objectClass"]]
    assert len(ous) == 11
    assert "ou=Accounting, dc=example,dc=com" in ous


def test_its8800_slapcat_output() -> None:
    path = OPENLDAP / "regressions_its8800_db.ldif"
    table = read_export(path)
    rows = table.to_pylist()
    assert sum("inetOrgPerson" in r["objectClass"] for r in rows) == 300
    root = rows[0]
    assert root["dn"] == "dc=example,dc=com"
    assert root["entryUUID"] == "156eb8cc-18e9-1027-80e5-d3f2010890dc"
    assert root["postalAddress"] == (
        "Example Organization, LLC$1234 Anywhere Street$Example, CA 99999"
    )
    assert root["contextCSN"] == [
        "20171203010043.825769Z#000000#001#000000",
        "20171130222521.056018Z#000000#002#000000",
        "20171130222318.939265Z#000000#003#000000",
        "20171201011219.228381Z#000000#004#000000",
    ]
    user1 = next(r for r in rows if r["dn"] == "uid=user.1,ou=user,dc=example,dc=com")
    assert user1["userPassword"] == "testpass"  # "dGVzdHBhc3M="
    assert user1["uidNumber"] == "1005"


def test_test_dn_edge_cases() -> None:
    path = OPENLDAP / "test-dn.ldif"
    records = {r.dn: r for r in read_ldif(path)}
    must = records["cn=Must Succeed,ou=LDAPv3,dc=example,dc=com"].attributes
    assert must["member"][:3] == [
        "cn=Must Succeed,ou=LDAPv3,dc=example,dc=com",
        "",  # "member: " with nothing after it
        "UID=jsmith,DC=example,DC=net",
    ]
    assert r"CN=\#John Smith\ ,DC=example,DC=net" in must["seeAlso"]
    assert records["cn=May Succeed 1,ou=LDAPv2,dc=example,dc=com"].attributes["member"] == [""]
    rows = {r["dn"]: r for r in read_export(path).to_pylist()}
    # In the table empty values are dropped from lists.
    assert rows["cn=Must Succeed,ou=LDAPv3,dc=example,dc=com"]["member"][1] == (
        "UID=jsmith,DC=example,DC=net"
    )
    assert rows["cn=May Succeed 1,ou=LDAPv2,dc=example,dc=com"]["member"] == []


def _jpeg_base64(path: Path) -> str:
    """The jpegPhoto value read independently: the folded lines after "jpegPhoto::"."""
    text = path.read_text(encoding="utf-8")
    match = re.search(r"^jpegPhoto:: ?(.*\n(?: .*\n)*)", text, re.MULTILINE)
    assert match is not None
    return "".join(line.removeprefix(" ") for line in match.group(1).splitlines())


@pytest.mark.parametrize(
    ("name", "employee_type", "photo"),
    [
        ("10_people_amy.ldif", None, False),
        ("10_people_bender.ldif", ["Ship's Robot"], True),
        ("10_people_fry.ldif", ["Delivery boy"], True),
        ("10_people_hermes.ldif", ["Bureaucrat", "Accountant"], False),
        ("10_people_leela.ldif", ["Captain", "Pilot"], True),
        ("10_people_professor.ldif", ["Owner", "Founder"], True),
        ("10_people_zoidberg.ldif", ["Doctor"], True),
    ],
)
def test_futurama_people(name: str, employee_type: list[str] | None, photo: bool) -> None:
    path = FUTURAMA / name
    assert dn_count(path) == 1
    (record,) = read_ldif(path)
    assert record.attributes.get("employeeType") == employee_type
    if photo:
        (value,) = record.attributes["jpegPhoto"]
        assert value == _jpeg_base64(path)
        assert base64.b64decode(value)[:2] == b"\xff\xd8"  # a JPEG, kept as base64
    else:
        assert "jpegPhoto" not in record.attributes


def test_futurama_amy_password_folded_base64() -> None:
    (record,) = read_ldif(FUTURAMA / "10_people_amy.ldif")
    assert record.dn == "cn=Amy Wong+sn=Kroker,ou=people,dc=planetexpress,dc=com"
    assert record.attributes["userPassword"] == ["{SSHA}wJv9s2Z9m0bS0R1WY7B7BEfDUVOC86cpV/uC0w=="]


def test_futurama_all_entries_as_one_table(tmp_path: Path) -> None:
    files = sorted(p for p in FUTURAMA.glob("*.ldif") if p.name != "msad.ldif")
    assert len(files) == 10
    combined = tmp_path / "futurama.ldif"
    combined.write_bytes(b"\n".join(p.read_bytes().rstrip(b"\n") + b"\n" for p in files))
    table = read_export(combined)
    assert table.num_rows == 10
    assert table.schema.field("employeeType").type == pa.list_(pa.string())
    assert table.schema.field("groupType").type == pa.string()
    assert table.schema.field("member").type == pa.list_(pa.string())
    assert table.schema.field("jpegPhoto").type == pa.string()
    # objectClass and objectclass are one column, first spelling kept.
    assert [n for n in table.column_names if n.lower() == "objectclass"] == ["objectClass"]
    rows = {r["dn"]: r for r in table.to_pylist()}
    fry = rows["cn=Philip J. Fry,ou=people,dc=planetexpress,dc=com"]
    assert fry["employeeType"] == ["Delivery boy"]
    assert fry["jpegPhoto"] == _jpeg_base64(FUTURAMA / "10_people_fry.ldif")
    crew = rows["cn=ship_crew,ou=people,dc=planetexpress,dc=com"]
    assert crew["objectClass"] == ["Group", "top"]
    assert crew["groupType"] == "2147483650"
    assert len(crew["member"]) == 3


def test_futurama_msad_change_records_are_refused() -> None:
    path = FUTURAMA / "msad.ldif"
    assert dn_count(path) == 2
    with pytest.raises(InputError) as caught:
        read_export(path)
    assert str(caught.value) == (
        f"{path}: line 5: change records (changetype: modify) are not supported; "
        "export the entries as content records"
    )


def test_utf16_without_bom_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "dn: cn=a\ncn: a\n".encode("utf-16-le"))
    with pytest.raises(InputError) as caught:
        list(read_ldif(path))
    assert str(caught.value) == (
        f"{path}: line 1: contains NUL characters; is it UTF-16 without a byte order mark? "
        "save the export as UTF-8 (or UTF-16 with a BOM)"
    )


def test_unprintable_characters_in_messages_are_masked() -> None:
    assert refuse("dn: cn=a\nbad\x1b[31m line\n") == (
        't.ldif: line 2: no ":" in "bad?[31m line"; each LDIF line is "attribute: value"'
    )
