"""recondiff.ingest.ldap_read against a real slapd (tests/slapd.py).

What a read writes is held equal, column by column and value by value, to what
``ldapsearch -LLL -E pr=7/noprompt`` exports and ``recondiff ingest`` reads:
OpenLDAP's 999-person exampledb and an entry set with binary values (the
futurama people's jpegPhotos and tests/data/ldap/binary.ldif). Then TLS
(verification on by default), each error as one line with nothing left at
``out``, the password kept out of every message and file, the incremental
filter escaped, and flat memory over 20,000 entries.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recondiff.errors import InputError
from recondiff.ingest import ad, ldap_read
from recondiff.ingest.exports import ingest
from recondiff.ingest.ldap_read import LdapRead, Since, read_ldap
from recondiff.ingest.snapshot import read_snapshot_info
from tests.conftest import ROOT, require_system
from tests.slapd import DIRECTORY, OPENSSL, Slapd, available, ldap_server

__all__ = ["ldap_server"]  # the fixture, imported so pytest finds it here

pytestmark = pytest.mark.system

THIRD_PARTY = ROOT / "tests" / "data" / "third_party"
EXAMPLEDB = THIRD_PARTY / "openldap" / "regressions_its9282_exampledb.ldif"
FUTURAMA = THIRD_PARTY / "futurama"
BINARY = ROOT / "tests" / "data" / "ldap" / "binary.ldif"
LDAPSEARCH = "ldapsearch"


class ComSlapd(Slapd):
    """A slapd whose suffix ``dc=com`` holds both the exampledb
    (``dc=example,dc=com``) and the futurama people (``dc=planetexpress,dc=com``)."""

    base = "dc=com"
    admin_dn = "cn=admin,dc=com"


def _need_slapd() -> None:
    require_system("slapd (Debian packages slapd and ldap-utils)", available())


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComSlapd]:
    """One server for the read-only tests: exampledb, binary.ldif and futurama."""
    _need_slapd()
    server = ComSlapd(tmp_path_factory.mktemp("slapd"))
    try:
        people = sorted(FUTURAMA.glob("10_people_*.ldif"))
        parts = [
            "dn: dc=com\nobjectClass: domain\ndc: com\n",
            EXAMPLEDB.read_text(encoding="utf-8"),
            BINARY.read_text(encoding="utf-8"),
            (FUTURAMA / "00_people.ldif").read_text(encoding="utf-8"),
            *(path.read_text(encoding="utf-8") for path in people),
        ]
        server.load("\n\n".join(parts))
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """A slapd with a self-signed certificate for 127.0.0.1 (StartTLS and ldaps://)."""
    _need_slapd()
    require_system("openssl", OPENSSL is not None)
    server = Slapd(tmp_path_factory.mktemp("tls"), tls=True)
    try:
        server.load(DIRECTORY)
        yield server
    finally:
        server.stop()


def _spec(server: Slapd, base: str | None = None, **changes: object) -> LdapRead:
    fields: dict[str, object] = {
        "url": server.url,
        "base": base or server.base,
        "bind_dn": server.admin_dn,
        "password": server.password,
    }
    fields.update(changes)
    return LdapRead(**fields)  # type: ignore[arg-type]


def _ldapsearch(server: Slapd, base: str, out: Path, *args: str) -> Path:
    """Export with ldapsearch, paged by 7, the password from a file (-y)."""
    command = [LDAPSEARCH, "-LLL", "-x", "-H", server.url, "-D", server.admin_dn]
    command += ["-y", str(server.password_file), "-b", base, "-E", "pr=7/noprompt", *args]
    with out.open("wb") as handle:
        subprocess.run(command, stdout=handle, check=True, timeout=60)
    return out


def _assert_same_as_ingest(server: Slapd, base: str, tmp_path: Path) -> pa.Table:
    export = _ldapsearch(server, base, tmp_path / "export.ldif")
    ingest(export, tmp_path / "ingested.parquet")
    expected = pq.read_table(tmp_path / "ingested.parquet")
    pages: list[int] = []
    info = read_ldap(
        _spec(server, base, page_size=7), tmp_path / "read.parquet", progress=pages.append
    )
    got = pq.read_table(tmp_path / "read.parquet")
    assert got.schema.remove_metadata() == expected.schema.remove_metadata()
    assert got.num_rows == expected.num_rows == info.rows
    assert got.to_pylist() == expected.to_pylist()
    assert pages == sorted(pages) and pages[-1] == info.rows
    assert len(pages) >= -(-info.rows // 7)  # a call for every page of 7
    return got


def test_exampledb_equals_what_ldapsearch_exports_and_ingest_reads(
    directory: ComSlapd, tmp_path: Path
) -> None:
    got = _assert_same_as_ingest(directory, "dc=example,dc=com", tmp_path)
    assert got.num_rows == 1011  # the suffix entry, 11 OUs and 999 people
    assert got.schema.names[0] == "dn"
    assert got.schema.field("objectClass").type == pa.list_(pa.string())
    assert got.schema.field("uid").type == pa.string()


def test_binary_values_equal_what_ldapsearch_exports_and_ingest_reads(
    directory: ComSlapd, tmp_path: Path
) -> None:
    got = _assert_same_as_ingest(directory, "dc=planetexpress,dc=com", tmp_path)
    rows = {row["dn"]: row for row in got.to_pylist()}
    fry = rows["cn=Philip J. Fry,ou=people,dc=planetexpress,dc=com"]
    assert fry["jpegPhoto"].startswith("/9j/4AAQSkZJRgABAQEAYABgAAD/4QBgRXhpZg")  # a JPEG, base64
    hermes = rows["cn=Hermes Certificate,ou=edge,dc=planetexpress,dc=com"]
    assert hermes["userCertificate"].startswith("MIIBhTCC")  # ;binary dropped, base64 kept
    assert hermes["description"] == ["AWJlbGw=", "line one\nline two\ttab"]
    spaces = rows["cn=Edge Spaces,ou=edge,dc=planetexpress,dc=com"]
    assert spaces["displayName"] == " leading and trailing  "
    assert spaces["title"] == "café 日本"
    assert spaces["audio"] == "//4AAQ=="
    text = rows["cn=Photo Text,ou=edge,dc=planetexpress,dc=com"]
    assert text["jpegPhoto"] == "plain text in a photo"


def test_metadata_says_where_it_came_from_and_the_high_water_mark(
    directory: ComSlapd, tmp_path: Path
) -> None:
    when = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
    out = tmp_path / "snap.parquet"
    info = read_ldap(_spec(directory, "ou=Payroll,dc=example,dc=com"), out, captured_at=when)
    meta = read_snapshot_info(out)
    assert (meta.format, meta.rows, meta.captured_at, meta.sha256) == (
        "ldap",
        info.rows,
        when,
        info.sha256,
    )
    assert meta.source == f"{directory.url}/ou=Payroll,dc=example,dc=com??sub?(objectClass=*)"
    stamps = _ldapsearch(
        directory, "ou=Payroll,dc=example,dc=com", tmp_path / "stamps.ldif", "modifyTimestamp"
    )
    latest = max(
        line.split(": ", 1)[1]
        for line in stamps.read_text().splitlines()
        if line.startswith("modifyTimestamp: ")
    )
    assert info.high_water == latest
    raw = pq.read_schema(out).metadata
    assert raw[b"recondiff.high_water"] == latest.encode()
    assert "modifyTimestamp" not in pq.read_schema(out).names  # read for the mark only


def test_attributes_scope_filter_and_multi_valued(directory: ComSlapd, tmp_path: Path) -> None:
    out = tmp_path / "some.parquet"
    spec = _spec(
        directory,
        "ou=Payroll,dc=example,dc=com",
        scope="one",
        filter="(objectClass=inetOrgPerson)",
        attributes=("dn", "UID", "mail", "modifyTimestamp"),
    )
    info = read_ldap(spec, out, multi_valued=["mail"])
    table = pq.read_table(out)
    assert table.schema.names == ["dn", "uid", "mail", "modifyTimestamp"]
    assert table.schema.field("mail").type == pa.list_(pa.string())  # forced by multi_valued
    assert table.schema.field("uid").type == pa.string()
    assert info.high_water == max(table.column("modifyTimestamp").to_pylist())
    export = _ldapsearch(
        directory, "ou=Payroll,dc=example,dc=com", tmp_path / "one.ldif",
        "-s", "one", "(objectClass=inetOrgPerson)", "dn",
    )  # fmt: skip
    assert sorted(table.column("dn").to_pylist()) == sorted(
        line[4:] for line in export.read_text().splitlines() if line.startswith("dn: ")
    )
    only_dn = read_ldap(_spec(directory, "ou=Payroll,dc=example,dc=com", attributes=()), out)
    assert pq.read_schema(out).names == ["dn"] and only_dn.rows == info.rows + 1


def test_since_reads_only_entries_changed_at_or_after_the_value(
    tmp_path: Path, ldap_server: Slapd
) -> None:
    first = read_ldap(_spec(ldap_server), tmp_path / "full.parquet")
    assert first.high_water is not None
    later = _next_second(first.high_water)
    changed = ["jdoe", "asmith", "bwong"]
    ldap_server.modify(
        "\n".join(
            f"dn: uid={uid},ou=people,dc=example,dc=org\nchangetype: modify\n"
            f"replace: title\ntitle: Changed\n"
            for uid in changed
        )
    )
    delta = read_ldap(
        _spec(ldap_server, since=Since("modifyTimestamp", later)), tmp_path / "delta.parquet"
    )
    dns = pq.read_table(tmp_path / "delta.parquet").column("dn").to_pylist()
    assert sorted(dns) == sorted(f"uid={uid},ou=people,dc=example,dc=org" for uid in changed)
    assert delta.high_water is not None and delta.high_water >= later
    meta = pq.read_schema(tmp_path / "delta.parquet").metadata
    assert meta[b"recondiff.since"] == f"modifyTimestamp>={later}".encode()


def _next_second(stamp: str) -> str:
    """Wait until the clock is past ``stamp`` (GeneralizedTime); return the next second."""
    after = datetime.strptime(stamp, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC).timestamp() + 1
    while datetime.now(UTC).timestamp() < after:
        pass
    return datetime.fromtimestamp(after, UTC).strftime("%Y%m%d%H%M%SZ")


def test_the_since_value_is_escaped_never_formatted_into_the_filter(
    directory: ComSlapd, tmp_path: Path
) -> None:
    # Formatted in as is, this would be (&(objectClass=*)(modifyTimestamp>=2000...)(objectClass=*)):
    # every entry. Escaped, it is one assertion no timestamp satisfies.
    value = "20000101000000Z)(objectClass=*"
    info = read_ldap(
        _spec(directory, "ou=Payroll,dc=example,dc=com", since=Since("modifyTimestamp", value)),
        tmp_path / "none.parquet",
    )
    assert info.rows == 0
    with pytest.raises(InputError, match="is not an attribute name"):
        Since("modifyTimestamp>=0)(objectClass=*", "1")


# -- TLS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["ldaps", "starttls"])
def test_tls_refuses_an_unknown_ca_by_default_and_trusts_ca_file(
    tls_server: Slapd, tmp_path: Path, how: str
) -> None:
    changes: dict[str, object] = (
        {"url": tls_server.ldaps_url} if how == "ldaps" else {"start_tls": True}
    )
    message = _fails(_spec(tls_server, **changes), tmp_path / "out.parquet")
    assert "TLS certificate was not accepted (self-signed certificate)" in message
    assert "ca_file" in message
    info = read_ldap(
        _spec(tls_server, ca_file=tls_server.ca_file, **changes), tmp_path / "out.parquet"
    )
    assert info.rows == pq.read_metadata(tmp_path / "out.parquet").num_rows > 5


def test_verify_false_reads_and_warns_loudly(
    tls_server: Slapd, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = read_ldap(
        _spec(tls_server, url=tls_server.ldaps_url, verify=False), tmp_path / "out.parquet"
    )
    assert info.rows > 5
    err = capsys.readouterr().err
    assert err.startswith("recondiff: WARNING: TLS certificate verification is OFF for ldaps://")
    assert err.count("\n") == 1


def test_tls_checks_the_host_name(tmp_path: Path) -> None:
    """A certificate the CA file trusts, but issued for another name, is refused."""
    _need_slapd()
    require_system("openssl", OPENSSL is not None)
    assert OPENSSL
    server = Slapd(tmp_path / "other", tls=True, start=False)
    subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(server.directory / "key.pem"),
         "-out", str(server.directory / "cert.pem"), "-days", "2", "-subj", "/CN=other.example",
         "-addext", "subjectAltName=DNS:other.example",
         "-addext", "basicConstraints=critical,CA:TRUE"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    server.start()
    try:
        spec = _spec(server, url=server.ldaps_url, ca_file=server.ca_file)
        message = _fails(spec, tmp_path / "out.parquet")
        assert "TLS certificate was not accepted (it is not issued for this host name)" in message
    finally:
        server.stop()


def test_a_password_is_not_sent_in_clear_text_to_another_host(tmp_path: Path) -> None:
    spec = LdapRead("ldap://ldap.example.org", "dc=example,dc=org", "subtree",
                    bind_dn="cn=svc", password="hunter2-secret")  # fmt: skip
    message = _fails(spec, tmp_path / "out.parquet")
    assert "refusing to send the bind password unencrypted over ldap://" in message
    assert "StartTLS" in message
    unencrypted = LdapRead("ldap://127.0.0.1:1", "dc=example,dc=org", ca_file=tmp_path / "ca.pem")
    message = _fails(unencrypted, tmp_path / "out.parquet")
    assert "ca_file is set but the connection would not be encrypted" in message


# -- errors ------------------------------------------------------------------------------------


def _fails(spec: LdapRead, out: Path) -> str:
    """The read fails with one line, without the password, leaving nothing behind."""
    before = set(out.parent.iterdir()) if out.parent.exists() else set()
    with pytest.raises(InputError) as caught:
        read_ldap(spec, out)
    message = str(caught.value)
    assert "\n" not in message
    if spec.password:
        assert spec.password not in message
        assert spec.password not in repr(caught.value)
    after = set(out.parent.iterdir()) if out.parent.exists() else set()
    assert after == before  # no snapshot, no temporary file, no spilled batch
    return message


def test_a_refused_bind_is_one_line_without_the_password(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    wrong = "Wrong-Password-9f3c"
    message = _fails(_spec(ldap_server, password=wrong), tmp_path / "out.parquet")
    assert message == (
        f"{ldap_server.url}: bind as {ldap_server.admin_dn} refused (invalidCredentials, 49); "
        "check the bind DN and the password"
    )


def test_an_empty_password_is_refused_rather_than_binding_anonymously(tmp_path: Path) -> None:
    spec = LdapRead("ldap://127.0.0.1:1", "dc=example,dc=org", bind_dn="cn=svc", password="")
    assert "the bind password for cn=svc is empty" in _fails(spec, tmp_path / "out.parquet")


def test_a_bad_base_is_one_line(ldap_server: Slapd, tmp_path: Path) -> None:
    message = _fails(
        _spec(ldap_server, base="ou=nowhere,dc=example,dc=org"), tmp_path / "out.parquet"
    )
    assert message == (
        f"{ldap_server.url}: the base ou=nowhere,dc=example,dc=org does not exist "
        "(noSuchObject, 32); check base"
    )


def test_the_size_limit_is_an_error_not_a_short_snapshot(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    message = _fails(_spec(ldap_server, size_limit=3, page_size=2), tmp_path / "out.parquet")
    assert message.startswith(
        f"{ldap_server.url}: the search stopped at the size limit after 2 entries "
        "(sizeLimitExceeded, 4); raise size_limit"
    )


def test_an_existing_snapshot_stays_as_it_was_when_a_read_fails(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    out = tmp_path / "out.parquet"
    out.write_bytes(b"the previous snapshot")
    _fails(_spec(ldap_server, size_limit=3, page_size=2), out)
    assert out.read_bytes() == b"the previous snapshot"


def test_referrals_are_refused(ldap_server: Slapd, tmp_path: Path) -> None:
    referral = (
        "dn: ou=elsewhere,dc=example,dc=org\nobjectClass: referral\n"
        "objectClass: extensibleObject\nou: elsewhere\n"
        "ref: ldap://other.example/ou=elsewhere,dc=example,dc=org\n"
    )
    ldap_server._utility(["-a", "-M"], referral)  # ManageDsaIT: add the referral object itself
    message = _fails(_spec(ldap_server), tmp_path / "out.parquet")
    assert message == (
        f"{ldap_server.url}: the search under dc=example,dc=org met a referral to "
        "ldap://other.example/ou=elsewhere,dc=example,dc=org??sub; recondiff does not "
        "follow referrals: choose a base that leaves it out, or read that server separately"
    )
    message = _fails(
        _spec(ldap_server, base="uid=x,ou=elsewhere,dc=example,dc=org"), tmp_path / "out.parquet"
    )
    assert "the search was referred to ldap://other.example/uid=x,ou=elsewhere" in message
    assert "(referral, 10)" in message


def test_a_server_gone_mid_read_leaves_nothing(ldap_server: Slapd, tmp_path: Path) -> None:
    out = tmp_path / "snapshots" / "out.parquet"
    spec = _spec(ldap_server, page_size=2)
    with pytest.raises(InputError) as caught:
        read_ldap(spec, out, progress=lambda entries: ldap_server.kill())
    message = str(caught.value)
    assert message.startswith(f"{ldap_server.url}: the connection was lost after 2 entries (")
    assert "\n" not in message and spec.password not in message  # type: ignore[operator]
    assert list(out.parent.iterdir()) == []  # no snapshot, no temporary file, no spilled batch


def test_an_unreachable_server_and_a_bad_filter_are_one_line(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    closed = f"ldap://127.0.0.1:{_closed_port()}"
    message = _fails(_spec(ldap_server, url=closed), tmp_path / "out.parquet")
    assert message.startswith(f"{closed}: cannot connect (")
    message = _fails(_spec(ldap_server, filter="(uid=jdoe"), tmp_path / "out.parquet")
    assert message == (
        f"{ldap_server.url}: the filter '(uid=jdoe' is not a valid LDAP filter "
        "(invalid filter); check filter"
    )


def _closed_port() -> int:
    from tests.slapd import _free_port

    return _free_port()


def test_the_password_is_in_no_repr_and_no_snapshot(ldap_server: Slapd, tmp_path: Path) -> None:
    spec = _spec(ldap_server)
    assert ldap_server.password not in repr(spec) and ldap_server.password not in str(spec)
    info = read_ldap(spec, tmp_path / "out.parquet")
    assert ldap_server.password.encode() not in (tmp_path / "out.parquet").read_bytes()
    assert ldap_server.password not in repr(info)


# -- Active Directory's call site ----------------------------------------------------------------


def test_with_ad_every_attribute_goes_through_the_ad_decoder(
    directory: ComSlapd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The AD decoders (recondiff/ingest/ad.py, tested with recorded AD responses in
    tests/test_ad.py) are called here with stand-ins, against slapd."""
    seen: list[tuple[str, list[bytes]]] = []

    def decode(name: str, values: list[bytes]) -> list[str] | None:
        seen.append((name, list(values)))
        return [v.decode().upper() for v in values] if name == "sn" else None

    def derived(entry: dict[str, list[str]]) -> dict[str, str | None]:
        return {"uac_disabled": "true" if "sn" in entry else None}

    monkeypatch.setattr(ad, "decode_values", decode)
    monkeypatch.setattr(ad, "derived_columns", derived)
    spec = _spec(directory, "ou=Payroll,dc=example,dc=com", ad=True, attributes=("sn", "cn"))
    info = read_ldap(spec, tmp_path / "ad.parquet")
    rows = pq.read_table(tmp_path / "ad.parquet").to_pylist()
    people = [row for row in rows if row["sn"] is not None]
    assert people and all(row["sn"] == row["sn"].upper() for row in people)
    assert all(row["uac_disabled"] == "true" for row in people)
    assert {name for name, _ in seen} == {"sn", "cn"}  # uSNChanged, asked for the mark, is not
    assert info.high_water is None  # slapd has no uSNChanged


def test_with_ad_a_ranged_attribute_is_completed_by_ranged_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A recorded AD entry (member returned in ranges): the reader hands the range
    to ad.ranged_values with a base-search callable and files the values under member."""
    calls: list[tuple[str, str, dict[str, list[bytes]]]] = []

    def ranged(
        search: object, dn: str, attribute: str, first: dict[str, list[bytes]]
    ) -> list[bytes]:
        calls.append((dn, attribute, dict(first)))
        return [*first["member;range=0-1"], b"CN=c,DC=x"]

    monkeypatch.setattr(ad, "ranged_values", ranged)
    spec = LdapRead("ldap://127.0.0.1", "DC=x", ad=True)
    rows = ldap_read._Rows(spec, conn=None)  # type: ignore[arg-type]
    entry = {
        "dn": "CN=g,DC=x",
        "raw_attributes": {"cn": [b"g"], "member;range=0-1": [b"CN=a,DC=x", b"CN=b,DC=x"]},
    }
    dn, row = rows.row(entry)
    assert (dn, row) == (
        "CN=g,DC=x",
        {"cn": ["g"], "member": ["CN=a,DC=x", "CN=b,DC=x", "CN=c,DC=x"]},
    )
    assert calls == [("CN=g,DC=x", "member", {"member;range=0-1": [b"CN=a,DC=x", b"CN=b,DC=x"]})]


# -- memory ------------------------------------------------------------------------------------


class BigSlapd(Slapd):
    """slapd with room for 20,000 entries (mdb's default map is 10 MB)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory, start=False)
        text = self.conf.read_text(encoding="utf-8")
        self.conf.write_text(text.replace("dbnosync\n", "dbnosync\nmaxsize 1073741824\n"))


def _people(ou: str, first: int, count: int) -> Iterator[str]:
    yield f"dn: ou={ou},dc=example,dc=org\nobjectClass: organizationalUnit\nou: {ou}\n"
    for i in range(first, first + count):
        yield (
            f"dn: uid=u{i:06d},ou={ou},dc=example,dc=org\nobjectClass: inetOrgPerson\n"
            f"uid: u{i:06d}\ncn: User {i}\nsn: Number {i}\nmail: u{i:06d}@example.org\n"
            f"title: Engineer grade {i % 7}\ndescription: {'x' * 200} {i}\n"
        )


_MEASURE = """
import resource, sys
from pathlib import Path
from recondiff.ingest import ldap_read
url, base, bind_dn, password_file, out = sys.argv[1:]
ldap_read.BATCH_ROWS = 1_000
spec = ldap_read.LdapRead(url, base, bind_dn=bind_dn, password=Path(password_file).read_text())
info = ldap_read.read_ldap(spec, Path(out))
print(info.rows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_memory_stays_flat_whatever_the_number_of_entries(tmp_path: Path) -> None:
    """The reader holds one batch and one page: its peak RSS reading 20,000
    entries is its peak reading 2,000 (batches of 1,000 rows, pages of 500).
    Holding every row instead costs some 45 MB more at 20,000 (measured by
    setting BATCH_ROWS above the entry count)."""
    _need_slapd()
    server = BigSlapd(tmp_path / "big")
    root = "dn: dc=example,dc=org\nobjectClass: organization\nobjectClass: dcObject\n"
    ldif = [root + "o: Example\ndc: example\n", *_people("small", 0, 2_000)]
    ldif += _people("large", 2_000, 18_000)
    (tmp_path / "big.ldif").write_text("\n".join(ldif), encoding="utf-8")
    slapadd = shutil.which("slapadd") or "/usr/sbin/slapadd"
    subprocess.run(
        [slapadd, "-q", "-f", str(server.conf), "-l", str(tmp_path / "big.ldif")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    server.start()
    peaks: dict[int, int] = {}
    try:
        for base in ("ou=small,dc=example,dc=org", "dc=example,dc=org"):
            command = [sys.executable, "-c", _MEASURE, server.url, base, server.admin_dn]
            command += [str(server.password_file), str(tmp_path / "big.parquet")]
            done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
            assert done.returncode == 0, done.stderr
            rows, peak_kib = map(int, done.stdout.split())
            peaks[rows] = peak_kib
    finally:
        server.stop()
    assert sorted(peaks) == [2_001, 20_003]
    assert peaks[20_003] < peaks[2_001] + 15 * 1024, peaks  # KiB
    assert pq.read_metadata(tmp_path / "big.parquet").num_rows == 20_003


def test_the_fast_entry_decoder_leaves_what_it_cannot_read_to_ldap3() -> None:
    from recondiff.ingest.ldap_fast import search_entry

    entry = bytes.fromhex("3019020102641404036f3d78300d300b0402636e310504036162")
    assert search_entry(entry) is None  # "abc" declared 3 bytes long, 2 there: truncated
    whole = bytes.fromhex("301a020102641504036f3d78300e300c0402636e3106040461626364")
    assert search_entry(whole) == (
        2,
        {"type": "searchResEntry", "dn": "o=x", "raw_attributes": {"cn": [b"abcd"]}},
    )
    done = bytes.fromhex("300c02010265070a010004000400")  # a searchResultDone
    assert search_entry(done) is None


def test_a_server_that_stops_answering_is_given_up_on(
    ldap_server: Slapd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ldap_read, "RECEIVE_TIMEOUT", 1)
    process = ldap_server.process
    assert process is not None
    out = tmp_path / "snapshots" / "out.parquet"
    try:
        with pytest.raises(InputError) as caught:
            read_ldap(
                _spec(ldap_server, page_size=2),
                out,
                progress=lambda entries: process.send_signal(signal.SIGSTOP),
            )
    finally:
        process.send_signal(signal.SIGCONT)
    # slapd may answer the next page before the SIGSTOP lands: 2 or 4 entries
    assert re.match(
        re.escape(f"{ldap_server.url}: the connection was lost after ") + r"[24] entries \(no "
        r"complete answer within 1 s\)",
        str(caught.value),
    ), str(caught.value)
    assert list(out.parent.iterdir()) == []


# -- a server that does not play by the rules (the red team's Hostile server) --------


def test_a_dn_that_is_not_utf8_or_a_huge_message_is_one_line(tmp_path: Path) -> None:
    """A DN or attribute name that is not UTF-8 is refused (ldap3's decoder would
    guess a meaning); a message announcing 4 GiB is refused before anything of
    it is read (memory)."""
    from tests.test_explore_redteam import Hostile, attempt, done, entry

    bad_dn = entry(1, b"cn=\xff\xfe,o=x", [("cn", [b"a"])])
    bad_name = entry(1, "cn=a,o=x", [(b"c\xffn", [b"a"])])
    answers: dict[str, Any] = {
        "DN is not UTF-8": lambda m, n: [bad_dn, done(m)],
        "attribute name that is not UTF-8": lambda m, n: [bad_name, done(m)],
        "4,294,967,295 bytes": lambda m, n: [b"\x30\x84\xff\xff\xff\xff\x02\x01", 30.0],
    }
    for expected, answer in answers.items():
        server = Hostile(answer)
        out = tmp_path / expected / "out.parquet"
        try:
            kind, error = attempt(server, out, timeout=5.0)
        finally:
            server.close()
        assert kind == "error" and isinstance(error, InputError), (kind, error)
        assert expected in str(error) and "\n" not in str(error)
        assert os.listdir(out.parent) == []


def test_paged_cookies_that_come_round_again_end_the_read(tmp_path: Path) -> None:
    from tests.test_explore_redteam import Hostile, attempt, done, person

    cookies = [b"A", b"B"]
    server = Hostile(lambda m, n: [person(m, f"p{n}"), done(m, cookie=cookies[n % 2])])
    try:
        kind, error = attempt(server, tmp_path / "s" / "out.parquet", timeout=5.0)
    finally:
        server.close()
    assert kind == "error" and "cookie it had sent before, after 3 entries" in str(error)


def test_a_change_time_in_the_future_is_not_the_high_water_mark(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """It would hide every change until then from --since-last: the latest time not
    in the future is the mark, and a warning line says so."""
    from tests.test_explore_redteam import Hostile, attempt, done, person

    def answer(m: int, n: int) -> list[bytes | float | str]:
        stamps = [b"20261201000000Z", b"20991231235959Z", b"20261201000000+0100"]
        return [*(person(m, f"p{i}", modifyTimestamp=s) for i, s in enumerate(stamps)),
                done(m)]  # fmt: skip

    server = Hostile(answer)
    try:
        kind, snap = attempt(server, tmp_path / "out.parquet")
    finally:
        server.close()
    assert kind == "ok", snap
    assert snap.high_water == "20261201000000Z"
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "1 entries have a modifyTimestamp later" in err
    assert "20991231235959Z" in err


def test_the_size_limit_stops_a_page_that_never_ends(tmp_path: Path) -> None:
    """A server that ignores size_limit and sends entries without end in one page:
    refused at the entry past the limit, not when (if ever) the page ends."""
    from tests.test_explore_redteam import Hostile, attempt, person

    server = Hostile(lambda m, n: [*(person(m, f"p{i}") for i in range(5)), 30.0])
    try:
        kind, error = attempt(server, tmp_path / "s" / "out.parquet", timeout=5.0, size_limit=2)
    finally:
        server.close()
    assert kind == "error" and "more than the size limit of 2 entries" in str(error), error


_KILLED_READ = """
import os, signal, sys
from pathlib import Path
from recondiff.ingest import ldap_read
from recondiff.ingest.ldap_read import LdapRead, read_ldap

url, base, bind_dn, out = sys.argv[1:5]
ldap_read.BATCH_ROWS = 2  # batches spilled to disk from the first page on
spec = LdapRead(url=url, base=base, bind_dn=bind_dn, password=sys.stdin.read(), page_size=2)
read_ldap(spec, Path(out), progress=lambda n: n >= 4 and os.kill(os.getpid(), signal.SIGKILL))
"""


def test_a_read_killed_outright_leaves_its_batches_which_the_next_read_removes(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """SIGKILL (or the OOM killer) runs no clean-up: the spilled batches stay
    beside the snapshot. The next read of the same snapshot sweeps them; a
    folder another read holds (locked) is left alone."""
    folder = tmp_path / "snapshots"
    out = folder / "out.parquet"
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_READ, ldap_server.url, ldap_server.base,
         ldap_server.admin_dn, str(out)],
        input=ldap_server.password, text=True, capture_output=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr
    left = list(folder.iterdir())
    assert len(left) == 1 and left[0].is_dir() and list(left[0].iterdir()), left
    busy = ldap_read._Spill(out, set())  # another read of the same snapshot, running
    try:
        read_ldap(_spec(ldap_server), out)
        names = sorted(p.name for p in folder.iterdir())
        assert names == sorted(["out.parquet", busy.directory.name])
    finally:
        busy.remove()
    assert [p.name for p in folder.iterdir()] == ["out.parquet"]
