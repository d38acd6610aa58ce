"""Red-team tests of the Active Directory specifics (issue 17 point 4).

No Active Directory runs here: the decoders and the ranged retrieval are fed
handmade bytes and answers in the shape of a spoofed or buggy AD's (not recorded
from a live AD), and the privileged-group alerts run real compares on CSV exports.
A test marked ``xfail(strict=True)`` is a hole in the current code: it passes once
the hole is fixed (then drop the mark). The others prove an attack holds where
tests/test_ad.py does not already.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from recondiff.cli.main import cli
from recondiff.compare import compare
from recondiff.errors import InputError
from recondiff.ingest import ad
from recondiff.io.sqlfiles import macros
from recondiff.plan.file import load_plan
from tests.test_ad import ADMINS, BASE_CONFIG, STAFF


def _one_line_error(call: Any, *args: Any, naming: str) -> str:
    with pytest.raises(InputError) as caught:
        call(*args)
    text = str(caught.value)
    assert naming in text and "\n" not in text, text
    return text


# --- GUID / SID ---------------------------------------------------------------------------


def test_guid_byte_order_is_ms_dtyp_on_an_asymmetric_value() -> None:
    # MS-DTYP 2.3.4.2: Data1 (4 bytes), Data2, Data3 (2 each) little-endian, Data4 as is
    raw = bytes(range(16))
    assert ad.decode_values("objectGUID", [raw]) == ["03020100-0504-0706-0809-0a0b0c0d0e0f"]


@pytest.mark.parametrize("size", [0, 15, 17, 32])
def test_guid_of_the_wrong_length_is_one_line(size: int) -> None:
    _one_line_error(ad.decode_values, "objectGUID", [b"\xab" * size], naming="objectGUID")


@pytest.mark.parametrize(
    "raw",
    [
        "01 02 00 00 00 00 00 05 15 00 00 00",  # says 2 sub-authorities, has 1
        "01 00 00 00 00 00 00 05 15 00 00 00",  # says 0, has 1
        "01 10" + " 00" * 6 + " 01 00 00 00" * 16,  # 16 sub-authorities (max 15)
        "02 00 00 00 00 00 00 05",  # revision 2
        "01 01 00 00 00 00 00",  # shorter than the header
    ],
)
def test_sid_that_disagrees_with_itself_is_one_line(raw: str) -> None:
    _one_line_error(ad.decode_values, "objectSid", [bytes.fromhex(raw)], naming="objectSid")


def test_sid_with_no_sub_authority_is_its_string_form() -> None:
    # MS-DTYP allows SubAuthorityCount 0: S-1-5 is NT AUTHORITY itself
    assert ad.decode_values("objectSid", [bytes.fromhex("0100000000000005")]) == ["S-1-5"]
    # a RID of 2^32-1 is unsigned, not -1
    raw = bytes.fromhex("010100000000000 5ffffffff".replace(" ", ""))
    assert ad.decode_values("objectSid", [raw]) == ["S-1-5-4294967295"]


def test_sid_with_a_large_identifier_authority_is_hex() -> None:
    raw = bytes.fromhex("01 01 01 02 03 04 05 06 07 00 00 00".replace(" ", ""))
    assert ad.decode_values("objectSid", [raw]) == ["S-1-0x010203040506-7"]


# --- FILETIME -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["-5", "-9223372036854775808", "99999999999999999999", "abc", "+133499664001234567",
     "1 33", "0x10", "1e18", "2650467744000000000", "9223372036854775806", ""],
)
def test_filetime_that_is_no_time_is_kept_as_written(text: str) -> None:
    # documented (docs/explore.md): a time value that does not parse is kept as written
    assert ad.decode_values("pwdLastSet", [text.encode("ascii")]) == [text]


def test_filetime_edges_that_are_times() -> None:
    assert ad.decode_values("pwdLastSet", [b" 133499664001234567\r\n"]) == [
        "2024-01-17T12:00:00.1234567Z"]
    # the last tick with a four-digit year
    assert ad.filetime_text("2650467743999999999") == "9999-12-31T23:59:59.9999999Z"
    assert ad.decode_values("accountExpires", [b"0", b"9223372036854775807"]) == ["never", "never"]


def test_time_attributes_refuse_non_ascii_digits_before_python_reads_them() -> None:
    # Python's int() and \d read Arabic-Indic digits; the ASCII check comes first
    for attribute in ("pwdLastSet", "whenCreated"):
        _one_line_error(ad.decode_values, attribute, ["١٣٣٤٩٩٦٦٤٠٠١٢٣٤٥٦٧".encode()],
                        naming=attribute)


# --- GeneralizedTime ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("20240115103000.123Z", "2024-01-15T10:30:00.123Z"),
        ("20240115103000,5Z", "2024-01-15T10:30:00.5Z"),
        ("20240115103000.0000000Z", "2024-01-15T10:30:00Z"),
        ("20240101003000+0130", "2023-12-31T23:00:00Z"),
        ("00000101000000.0Z", "00000101000000.0Z"),  # year 0000: kept as written
        ("garbage", "garbage"),
        ("2024011510Z", "2024011510Z"),  # hour only: kept as written
        ("20240115103000.12345678Z", "20240115103000.12345678Z"),  # 8 digits: kept
        ("99991231235959-0100", "99991231235959-0100"),  # past 9999: kept
    ],
)
def test_generalized_time_variants(text: str, iso: str) -> None:
    assert ad.decode_values("whenChanged", [text.encode("ascii")]) == [iso]


@pytest.mark.parametrize("text", ["20240115103000+2400", "20240115103000+0099"])
def test_generalized_time_with_an_impossible_offset_is_not_shifted(text: str) -> None:
    assert ad.decode_values("whenChanged", [text.encode("ascii")]) == [text]


def test_generalized_time_second_60_is_not_silently_59() -> None:
    assert ad.decode_values("whenChanged", [b"20240115103060Z"]) != ["2024-01-15T10:30:59Z"]


# --- userAccountControl -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["4294967296", "-2147483649", "abc", "5 14", "0x", "", "   ", "0b10", "1e3"])
def test_uac_that_is_no_number_has_no_derived_columns(text: str) -> None:
    assert ad.uac_flags(text) is None
    assert set(ad.derived_columns({"userAccountControl": [text]}).values()) == {None}


def test_uac_extremes() -> None:
    assert ad.uac_flags(" 514 ") == 514
    assert ad.uac_flags("4294967295") == 0xFFFFFFFF
    assert ad.uac_flags("-2147483648") == 0x80000000


_CON: list[duckdb.DuckDBPyConnection] = []


def _con() -> duckdb.DuckDBPyConnection:
    """One connection with the macros for the whole file (loading them is slow)."""
    if not _CON:
        con = duckdb.connect()
        con.execute(macros())
        _CON.append(con)
    return _CON[0]


def _sql_uac_bits(text: str) -> Any:
    row = _con().execute("SELECT rd_uac_bits($v)", {"v": text}).fetchone()
    return row[0] if row else None


@pytest.mark.parametrize("text", ["1_026", "١٠٢٦"])
def test_uac_text_python_and_sql_agree_it_is_no_number(text: str) -> None:
    assert _sql_uac_bits(text) is None
    assert ad.uac_flags(text) is None


# --- ranged retrieval ---------------------------------------------------------------------


def _server(answers: list[dict[str, list[bytes]]]) -> Any:
    calls = iter(answers)

    def search(dn: str, attributes: list[str]) -> Mapping[str, list[bytes]]:
        return next(calls)

    return search


@pytest.mark.parametrize(
    ("first", "answers"),
    [
        # overlap: asked for 2-*, answers 1-*
        ({"member;range=0-1": [b"a", b"b"]}, [{"member;range=1-*": [b"b", b"c"]}]),
        # skip: asked for 2-*, answers 5-*
        ({"member;range=0-1": [b"a", b"b"]}, [{"member;range=5-*": [b"f"]}]),
        # backwards after a good step
        ({"member;range=0-1": [b"a", b"b"]},
         [{"member;range=2-3": [b"c", b"d"]}, {"member;range=0-*": [b"a"]}]),
        # first range does not start at 0
        ({"member;range=1500-*": [b"a"]}, []),
        # an answer with the range of another attribute only
        ({"member;range=0-1": [b"a", b"b"]}, [{"memberOf;range=2-*": [b"c"]}]),
        # an answer with the plain attribute (not ranged): not taken as the rest
        ({"member;range=0-1": [b"a", b"b"]}, [{"member": [b"c"]}]),
        # an empty range that is not the last
        ({"member;range=0-1": [b"a", b"b"]}, [{"member;range=2-1": []}]),
    ],
)
def test_ranges_that_do_not_follow_on_are_one_line(
    first: dict[str, list[bytes]], answers: list[dict[str, list[bytes]]]
) -> None:
    _one_line_error(ad.ranged_values, _server(answers), "CN=G,DC=ex", "member", first,
                    naming="CN=G,DC=ex: ")


def test_an_empty_last_range_ends_the_list() -> None:
    # AD answers member;range=1500-* with no values when a group has exactly 1,500
    first = {"member;range=0-1": [b"a", b"b"]}
    assert ad.ranged_values(_server([{"member;range=2-*": []}]), "CN=G", "member", first) == [
        b"a", b"b"]
    assert ad.ranged_values(_server([]), "CN=G", "member", {"member;range=0-*": []}) == []


def test_another_attributes_range_is_not_taken_for_this_one() -> None:
    def no_search(dn: str, attributes: list[str]) -> Mapping[str, list[bytes]]:
        raise AssertionError("no search needed")

    first = {"memberOf;range=0-1": [b"x", b"y"], "member": [b"a"]}
    assert ad.ranged_values(no_search, "CN=G", "member", first) == [b"a"]


def test_range_requests_are_bounded_even_by_a_one_value_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ad, "MAX_RANGE_REQUESTS", 20)
    asked: list[str] = []

    def honest_but_endless(dn: str, attributes: list[str]) -> Mapping[str, list[bytes]]:
        asked.append(attributes[0])
        low = int(attributes[0].split("=")[1].split("-")[0])
        return {f"member;Range={low}-{low + 1}": [b"x", b"y"]}

    _one_line_error(ad.ranged_values, honest_but_endless, "CN=G", "member",
                    {"member;range=0-1": [b"x", b"y"]}, naming="still not ended")
    assert len(asked) == 20


# --- privileged alerts --------------------------------------------------------------------



def _csv(rows: list[list[str]]) -> str:
    return "\n".join(",".join(f'"{c}"' for c in row) for row in rows) + "\n"


def _compare(
    tmp_path: Path,
    endpoint: list[tuple[str, list[str]]],
    linked: list[str],
    *,
    endpoint_extra: str = "",
    attributes: str = "",
    extra: dict[str, dict[str, str]] | None = None,
) -> tuple[dict[str, Any], dict[str, Any], Path]:
    """A compare of endpoint rows (key, memberOf), the keys in ``linked`` owned by an
    identity whose groups are only Staff; ``extra`` adds endpoint columns by key."""
    extra = extra or {}
    names = sorted({n for cols in extra.values() for n in cols})
    ep = [["sAMAccountName", "userAccountControl", "memberOf", *names]]
    ep += [[k, "512", ";".join(g), *(extra.get(k, {}).get(n, "") for n in names)]
           for k, g in endpoint]
    repo = [["id", "ad_account", "groups"]] + [[str(i), k, STAFF] for i, k in enumerate(linked)]
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "endpoint.csv").write_text(_csv(ep), encoding="utf-8")
    (tmp_path / "repository.csv").write_text(_csv(repo), encoding="utf-8")
    config = tmp_path / "recondiff.toml"
    config.write_text(BASE_CONFIG.format(endpoint_extra=endpoint_extra, attributes=attributes),
                      encoding="utf-8")
    compare(config, tmp_path / "out")
    plan = load_plan(tmp_path / "out" / "plan.jsonl")
    report = json.loads((tmp_path / "out" / "report.json").read_text("utf-8"))
    return plan, report, tmp_path / "out" / "plan.jsonl"


def _alerted(plan: dict[str, Any]) -> list[str]:
    return sorted(e["object"]["key"] for e in plan["events"] if e["alert"])


def _privileged(values: list[str], names: list[str], dns: list[str]) -> dict[str, bool]:
    """rd_privileged of each value, in one query (planning the macro is slow)."""
    rows = _con().execute(
        "SELECT v, rd_privileged(v, $n::VARCHAR[], $d::VARCHAR[]) "
        "FROM unnest($v::VARCHAR[]) t(v)", {"v": values, "n": names, "d": dns}).fetchall()
    return {v: bool(hit) for v, hit in rows}


MATCH_VARIANTS = {
    "cn=domain admins,cn=users,dc=ex": True,
    "CN=Domain Admins ,CN=Users,DC=ex": True,  # trailing space before the comma
    "CN = DOMAIN ADMINS , CN=Users,DC=ex": True,
    "CN=Domain\\20Admins,CN=Users,DC=ex": True,  # hex-escaped space
    "CN=Domain Admins,OU=Fake,DC=ex": True,  # a look-alike elsewhere: over-alerts
    "Domain Admins": True,  # a CSV with group names
    "OU=Domain Admins,DC=ex": True,  # first RDN value, any type: over-alerts
    "CN=Domain Admins2,CN=Users,DC=ex": False,
    "CN=Domain Admins\\,OU=Fake,DC=ex": False,  # CN is "Domain Admins,OU=Fake"
    "CN=Domain Admins\\2C OU=Fake,DC=ex": False,
    "CN=Staff,CN=Domain Admins,DC=ex": False,  # a group under a container named so
}


def test_privileged_match_variants_by_cn_and_by_dn() -> None:
    # a DN entry matches that DN only, in any spelling (one query: planning is slow)
    dn_variants = {"cn=vault , ou=SECRETS,dc=ex": True,
                   "CN=Vault,OU=Secrets\\,Fake,DC=ex": False,
                   "CN=Vault,OU=Public,DC=ex": False}
    expected = {**MATCH_VARIANTS, **dn_variants}
    assert _privileged(list(expected), ["Domain Admins"], ["CN=Vault,OU=Secrets,DC=ex"]) == expected


GERMAN = "CN=Domänen-Admins,CN=Users,DC=ex"


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any], Path]:
    """One compare (compares are slow) of every privileged-group case below."""
    return _compare(
        tmp_path_factory.mktemp("mixed"),
        [("real", [STAFF, ADMINS]), ("fake", [STAFF, "CN=Domain Admins,OU=Fake,DC=ex"]),
         ("two", [STAFF, "CN=Domain Admins2,OU=Fake,DC=ex"]), ("german", [STAFF, GERMAN]),
         ("keyadm", [STAFF, "CN=Key Admins,CN=Users,DC=ex"]),
         ("orphan", ["cn=domain admins,cn=users,dc=ex"]), ("pgid", [STAFF]),
         ("alice", [STAFF]), ("alice", [STAFF, ADMINS]), ("calm", [STAFF])],
        ["real", "fake", "two", "german", "keyadm", "alice", "calm"],
        endpoint_extra=f'privileged_groups = ["{ADMINS}"]',
        extra={"pgid": {"primaryGroupID": "512"}, "calm": {"primaryGroupID": "513"}},
    )


def test_look_alike_and_real_domain_admins_both_alert_in_a_compare(
    mixed: tuple[dict[str, Any], dict[str, Any], Path],
) -> None:
    """The default list matches CNs: a DN entry in privileged_groups cannot narrow it, so
    a look-alike group alerts too (noise, not silence); Domain Admins2 does not."""
    plan, _, _ = mixed
    assert {"fake", "real"} <= set(_alerted(plan))
    assert "two" not in _alerted(plan)


def test_alert_counts_agree_with_drift_and_orphan_alerts(
    mixed: tuple[dict[str, Any], dict[str, Any], Path],
) -> None:
    """Event alerts (plan counts, plan show) plus report-only orphan alerts (report)."""
    plan, report, plan_path = mixed
    assert _alerted(plan) == ["fake", "keyadm", "real"]
    assert plan["counts"]["alerts"] == 3
    shown = json.loads(CliRunner().invoke(cli, ["plan", "show", str(plan_path), "--json"]).output)
    assert shown["alerts_total"] == 3
    got = sorted((a["kind"], a["endpoint_key"]) for a in report["alerts"])
    assert ("privileged_unmatched", "orphan") in got
    assert [k for k, _ in got].count("rule") == 3
    html = (plan_path.parent / "report.html").read_text("utf-8")
    assert f"Alerts ({len(report['alerts'])})" in html


@pytest.mark.xfail(strict=True, reason=(
    "the well-known groups are matched by their English CN only: a German AD's "
    "'Domänen-Admins' (RID 512) or a renamed Domain Admins grants no alert; match by "
    "SID/RID (objectSid of the group, tokenGroups) or say so in docs/config.md"))
def test_non_english_domain_admins_alerts(
    mixed: tuple[dict[str, Any], dict[str, Any], Path],
) -> None:
    assert "german" in _alerted(mixed[0])


def test_primary_group_domain_admins_alerts(
    mixed: tuple[dict[str, Any], dict[str, Any], Path],
) -> None:
    assert "pgid" in [a["endpoint_key"] for a in mixed[1]["alerts"]]


def test_duplicate_key_account_holding_domain_admins_alerts(
    mixed: tuple[dict[str, Any], dict[str, Any], Path],
) -> None:
    assert "alice" in [a["endpoint_key"] for a in mixed[1]["alerts"]]


def test_privileged_alerts_false_keeps_a_rule_alert(tmp_path: Path) -> None:
    rule = ('\n[[attribute.rule]]\nmatch = "CN=Domain Admins,*"\nkind = "added"\n'
            'response = "reject"\nalert = "DA outside IAM"\n')
    plan, report, _ = _compare(
        tmp_path, [("u1", [STAFF, ADMINS]), ("u2", [STAFF, "CN=DnsAdmins,CN=Users,DC=ex"])],
        ["u1", "u2"], endpoint_extra="privileged_alerts = false", attributes=rule)
    assert [(e["object"]["key"], e["alert"]) for e in plan["events"] if e["alert"]] == [
        ("u1", "DA outside IAM")]
    assert [a["endpoint_key"] for a in report["alerts"]] == ["u1"]
