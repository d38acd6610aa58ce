"""Active Directory specifics (issue 17 point 4; docs/explore.md, "Active Directory").

No Active Directory runs here. The decoders and the ranged retrieval are tested on
**handmade responses in the shape of AD's answers, not recorded from a live AD**:
``tests/data/ad/values.json`` holds raw attribute values (the bytes ldap3 hands
over, base64) with the string forms Microsoft documents for them, and
``tests/data/ad/ranged_member.json`` the three answers AD gives for a group of
3,100 members (``member;range=0-1499``, ``1500-2999``, ``3000-*``). The default
privileged-group alerts run real compares on CSV exports.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from recondiff.cli.main import cli
from recondiff.compare import compare
from recondiff.config.load import load_config
from recondiff.errors import ConfigError, InputError
from recondiff.ingest import ad
from recondiff.io.sqlfiles import macros
from recondiff.plan.file import load_plan
from recondiff.vocabulary import ADMIN_COUNT_ALERT, PRIVILEGED_GROUP_ALERT, UAC_FLAGS

DATA = Path(__file__).parent / "data" / "ad"


def _raw(case: dict[str, Any]) -> list[bytes]:
    if "ascii" in case:
        return [case["ascii"].encode("ascii")]
    hexes = case["hex"] if isinstance(case["hex"], list) else [case["hex"]]
    return [bytes.fromhex(h) for h in hexes]


# --- decoders ---------------------------------------------------------------------------

VALUES = json.loads((DATA / "values.json").read_text("utf-8"))["cases"]


@pytest.mark.parametrize("case", VALUES, ids=lambda c: f"{c['attribute']}={c['text']}")
def test_decode_values_gives_the_documented_string_forms(case: dict[str, Any]) -> None:
    assert ad.decode_values(case["attribute"], _raw(case)) == case["text"]


def test_decode_values_reads_base64_of_recorded_raw_values() -> None:
    # ldap3's raw_attributes are bytes; a JSON recording holds them as base64
    raw = base64.b64decode("53mWv+YN0BGihQCqADBJ4g==")
    assert ad.decode_values("objectGUID", [raw]) == ["bf9679e7-0de6-11d0-a285-00aa003049e2"]
    assert ad.decode_values("objectguid;binary", [raw]) == ["bf9679e7-0de6-11d0-a285-00aa003049e2"]


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("objectGUID", b"\x01" * 15, "objectGUID: a GUID value of 15 bytes, not 16"),
        ("objectGUID", b"bf9679e7-0de6-11d0-a285-00aa003049e2", "not 16"),
        ("objectSid", bytes.fromhex("01 02 00 00 00 00 00 05 20 00 00 00"), "not a binary SID"),
        ("objectSid", bytes.fromhex("02 01 00 00 00 00 00 05 12 00 00 00"), "not a binary SID"),
        ("objectSid", b"", "not a binary SID"),
        ("pwdLastSet", b"\xff\xfe", "not ASCII"),
    ],
)
def test_a_value_of_the_wrong_shape_is_one_line(attribute: str, value: bytes, message: str) -> None:
    with pytest.raises(InputError) as caught:
        ad.decode_values(attribute, [value])
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_filetime_and_generalized_time_edges() -> None:
    assert ad.filetime_text("1") == "1601-01-01T00:00:00.0000001Z"
    assert ad.filetime_text("-1") == "-1"  # not a time: kept as text
    assert ad.filetime_text("9223372036854775806").startswith("30828-") is False
    assert ad.generalized_time_text("20241301000000.0Z") == "20241301000000.0Z"  # month 13
    assert ad.generalized_time_text("20240101003000-0130") == "2024-01-01T02:00:00Z"


def test_decoded_times_are_what_the_date_and_timestamp_kinds_read() -> None:
    """The snapshot's ISO text compares equal to the raw FILETIME / GeneralizedTime
    under the timestamp kind, and `never` is no value, as 0 and 2^63-1 are."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(macros())
    for raw, text in [
        ("133499664001234567", ad.filetime_text("133499664001234567")),
        ("20240115103000.0Z", ad.generalized_time_text("20240115103000.0Z")),
        ("0", ad.filetime_text("0")),
        ("9223372036854775807", ad.filetime_text("9223372036854775807")),
    ]:
        for kind in ("date", "timestamp"):
            a, b = con.execute(
                "SELECT rd_norm($a, $k), rd_norm($b, $k)", {"a": raw, "b": text, "k": kind}
            ).fetchone() or (None, None)
            assert a == b, (raw, text, kind)
    assert con.execute("SELECT rd_norm('never', 'date')").fetchone() == (None,)


# --- userAccountControl -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"userAccountControl": ["512"]}, ("false", "false", "false")),
        ({"userAccountControl": ["514"]}, ("true", "false", "false")),
        ({"useraccountcontrol": ["66048"]}, ("false", "false", "true")),
        ({"userAccountControl": ["66050"]}, ("true", "false", "true")),
        ({"userAccountControl": ["528"]}, ("false", "true", "false")),
        # AD keeps the lockout in the computed attribute, not in userAccountControl
        ({"userAccountControl": ["512"], "msDS-User-Account-Control-Computed": ["16"]},
         ("false", "true", "false")),
        ({"userAccountControl": ["0x10202"]}, ("true", "false", "true")),
        ({"userAccountControl": ["-2147483134"]}, ("true", "false", "false")),
        ({"userAccountControl": ["junk"]}, (None, None, None)),
        ({"userAccountControl": []}, (None, None, None)),
        ({"cn": ["no uac"]}, (None, None, None)),
    ],
)
def test_derived_columns(entry: Mapping[str, list[str]], expected: tuple[Any, ...]) -> None:
    got = ad.derived_columns(entry)
    assert list(got) == ["uac_disabled", "uac_locked_out", "uac_password_never_expires"]
    assert tuple(got.values()) == expected


def test_the_sql_flag_table_is_the_vocabulary() -> None:
    con = duckdb.connect()
    con.execute(macros())
    rows = con.execute("SELECT unnest(rd_uac_table(), recursive := true)").fetchall()
    assert dict(rows) == UAC_FLAGS


# --- ranged retrieval -------------------------------------------------------------------


def _as_bytes(attrs: Mapping[str, list[str]]) -> dict[str, list[bytes]]:
    return {k: [v.encode("utf-8") for v in vs] for k, vs in attrs.items()}


class Replay:
    """A server that answers each base search with the next recorded answer, checking
    that the request is the one the recording says was made."""

    def __init__(self, dn: str, responses: list[dict[str, Any]]) -> None:
        self.dn, self.responses, self.requests = dn, responses, []

    def __call__(self, dn: str, attributes: list[str]) -> Mapping[str, list[bytes]]:
        assert dn == self.dn
        self.requests.append(attributes)
        answer = self.responses[len(self.requests)]
        assert attributes == answer["request"]
        return _as_bytes(answer["attributes"])


def test_ranged_values_follow_recorded_ranges_to_the_end() -> None:
    recorded = json.loads((DATA / "ranged_member.json").read_text("utf-8"))
    replay = Replay(recorded["dn"], recorded["responses"])
    first = _as_bytes(recorded["responses"][0]["attributes"])
    values = ad.ranged_values(replay, recorded["dn"], "member", first)
    assert len(values) == 3100
    assert values[0] == b"CN=User 0000,OU=Staff,DC=example,DC=org"
    assert values[-1] == b"CN=User 3099,OU=Staff,DC=example,DC=org"
    assert len(set(values)) == 3100
    assert replay.requests == [["member;range=1500-*"], ["member;range=3000-*"]]


def test_ranged_values_without_a_range_are_the_plain_values() -> None:
    def no_search(dn: str, attributes: list[str]) -> Mapping[str, list[bytes]]:
        raise AssertionError("no search needed")

    assert ad.ranged_values(no_search, "cn=g", "member", {"Member": [b"a", b"b"]}) == [b"a", b"b"]
    assert ad.ranged_values(no_search, "cn=g", "member", {"member;range=0-*": [b"a"]}) == [b"a"]


def _server(answers: list[dict[str, list[bytes]]]) -> Any:
    calls = iter(answers)

    def search(dn: str, attributes: list[str]) -> Mapping[str, list[bytes]]:
        return next(calls)

    return search


@pytest.mark.parametrize(
    ("first", "answers", "message"),
    [
        # a server that loops: asked for 2-*, it answers 0-1 again
        ({"member;range=0-1": [b"a", b"b"]}, [{"member;range=0-1": [b"a", b"b"]}],
         "range starting at 0 after 2 values"),
        # a range holding fewer values than it spans
        ({"member;range=0-4": [b"a", b"b"]}, [], "range=0-4 holding 2 values"),
        # an answer without the ranged attribute
        ({"member;range=0-1": [b"a", b"b"]}, [{"member": []}], "no member;range=... in the answer"),
        # a range ending before it starts
        ({"member;range=3-1": []}, [], "range starting at 3 after 0 values"),
    ],
)
def test_a_server_returning_garbage_ranges_is_one_line(
    first: dict[str, list[bytes]], answers: list[dict[str, list[bytes]]], message: str
) -> None:
    with pytest.raises(InputError) as caught:
        ad.ranged_values(_server(answers), "CN=G,DC=ex", "member", first)
    text = str(caught.value)
    assert message in text and text.startswith("CN=G,DC=ex: ") and "\n" not in text


def test_ranges_that_never_end_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ad, "MAX_RANGE_REQUESTS", 50)
    asked: list[str] = []

    def endless(dn: str, attributes: list[str]) -> Mapping[str, list[bytes]]:
        asked.append(attributes[0])
        low = int(attributes[0].split("=")[1].split("-")[0])
        return {f"member;range={low}-{low}": [b"x"]}

    with pytest.raises(InputError, match="still not ended after 50 requests"):
        ad.ranged_values(endless, "CN=G", "member", {"member;range=0-0": [b"x"]})
    assert len(asked) == 50


def test_ranges_holding_too_many_values_or_bytes_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server can put any number of values in each range: few requests, no memory."""

    def huge(dn: str, attributes: list[str]) -> Mapping[str, list[bytes]]:
        low = int(attributes[0].split("=")[1].split("-")[0])
        return {f"member;range={low}-{low + 999}": [b"x" * 100] * 1000}

    first = {"member;range=0-999": [b"x" * 100] * 1000}
    monkeypatch.setattr(ad, "MAX_RANGED_VALUES", 5_000)
    with pytest.raises(InputError, match="over 5000 values"):
        ad.ranged_values(huge, "CN=G", "member", first)
    monkeypatch.setattr(ad, "MAX_RANGED_VALUES", 10**9)
    monkeypatch.setattr(ad, "MAX_RANGED_BYTES", 3 << 20)
    with pytest.raises(InputError, match="3 MiB") as caught:
        ad.ranged_values(huge, "CN=G", "member", first)
    assert "\n" not in str(caught.value)


# --- the default privileged-group alerts ----------------------------------------------------

STAFF = "CN=Staff,OU=Groups,DC=ex"
ADMINS = "CN=Domain Admins,CN=Users,DC=ex"
BASE_CONFIG = """\
[endpoint]
name = "corp-ad"
snapshot = "endpoint.csv"
key = "sAMAccountName"
multi_valued = ["memberOf"]
kind = "ad"
{endpoint_extra}

[repository]
snapshot = "repository.csv"
key = "id"
link = "ad_account"
multi_valued = ["groups"]

[[attribute]]
endpoint = "memberOf"
repository = "groups"
compare = "dn_set"
{attributes}
"""


def _run(
    tmp_path: Path,
    members: dict[str, list[str]],
    *,
    endpoint_extra: str = "",
    attributes: str = "",
    extra_columns: dict[str, dict[str, str]] | None = None,
    unowned: dict[str, list[str]] | None = None,
) -> tuple[dict[str, Any], dict[str, Any], Path]:
    """A compare of accounts ``members`` (key -> memberOf) linked to identities whose
    groups are only Staff, plus ``unowned`` accounts no identity links."""
    extra_columns = extra_columns or {}
    names = sorted({c for cols in extra_columns.values() for c in cols})
    ep = ["sAMAccountName,userAccountControl,memberOf" + "".join(f",{n}" for n in names)]
    repo = ["id,ad_account,groups" + "".join(f",{n}" for n in names)]
    for i, (key, groups) in enumerate({**members, **(unowned or {})}.items()):
        cols = extra_columns.get(key, {})
        ep.append(f'{key},512,"{";".join(groups)}"' + "".join(f",{cols.get(n, '')}" for n in names))
        if key in members:
            repo.append(f"{i},{key},\"{STAFF}\"" + "".join(f",{cols.get('repo_' + n, '')}"
                                                          for n in names))
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "endpoint.csv").write_text("\n".join(ep) + "\n", encoding="utf-8")
    (tmp_path / "repository.csv").write_text("\n".join(repo) + "\n", encoding="utf-8")
    config = tmp_path / "recondiff.toml"
    config.write_text(
        BASE_CONFIG.format(endpoint_extra=endpoint_extra, attributes=attributes), encoding="utf-8"
    )
    compare(config, tmp_path / "out")
    plan = load_plan(tmp_path / "out" / "plan.jsonl")
    report = json.loads((tmp_path / "out" / "report.json").read_text("utf-8"))
    return plan, report, tmp_path / "out" / "plan.jsonl"


def _alerted(plan: dict[str, Any]) -> list[tuple[str, str]]:
    """(account key, alert) of each event with an alert."""
    return sorted((e["object"]["key"], e["alert"]) for e in plan["events"] if e["alert"])


def test_many_accounts_gaining_domain_admins_alert_without_any_rule(tmp_path: Path) -> None:
    members = {f"u{i:03d}": [STAFF, ADMINS] for i in range(40)}
    members["calm"] = [STAFF]
    plan, report, plan_path = _run(tmp_path, members)
    # one modify event per account, each with the alert
    assert _alerted(plan) == [(f"u{i:03d}", PRIVILEGED_GROUP_ALERT) for i in range(40)]
    alerts = report["alerts"]
    assert len(alerts) == 40
    assert {(a["kind"], a["attribute"], a["value"]) for a in alerts} == {
        ("rule", "memberOf", ADMINS)}
    assert sorted(a["endpoint_key"] for a in alerts) == [f"u{i:03d}" for i in range(40)]
    # the response is the attribute's on_drift (review), not changed by the alert
    assert {e["response"] for e in plan["events"] if e["alert"]} == {"review"}
    assert plan["counts"]["alerts"] == 40
    # plan show lists and counts them
    result = CliRunner().invoke(cli, ["plan", "show", str(plan_path), "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["alerts_total"] == 40
    html = (tmp_path / "out" / "report.html").read_text("utf-8")
    assert "Alerts (40)" in html


def test_privileged_alerts_false_turns_them_off(tmp_path: Path) -> None:
    members = {f"u{i}": [STAFF, ADMINS] for i in range(5)}
    plan, report, _ = _run(
        tmp_path, members, endpoint_extra="privileged_alerts = false",
        unowned={"orphan": [ADMINS]},
    )
    assert _alerted(plan) == []
    assert report["alerts"] == []
    assert "Alerts (0)" in (tmp_path / "out" / "report.html").read_text("utf-8")


def test_privileged_groups_extends_the_list_by_cn_or_dn(tmp_path: Path) -> None:
    tier0 = "CN=Tier0 Operators,OU=Groups,DC=ex"
    vault = "CN=Vault,OU=Secrets,DC=ex"
    other_vault = "CN=Vault,OU=Public,DC=ex"
    members = {"a": [STAFF, tier0], "b": [STAFF, vault], "c": [STAFF, other_vault],
               "d": [STAFF, "CN=Schema Admins,CN=Users,DC=ex"]}
    plan, _, _ = _run(
        tmp_path, members,
        endpoint_extra='privileged_groups = ["tier0 OPERATORS", "cn=vault, ou=secrets,dc=ex"]',
    )
    assert _alerted(plan) == [
        ("a", PRIVILEGED_GROUP_ALERT), ("b", PRIVILEGED_GROUP_ALERT), ("d", PRIVILEGED_GROUP_ALERT)]


def test_a_group_the_repository_grants_does_not_alert(tmp_path: Path) -> None:
    # the identity system says u1 is in Domain Admins: no alert; u2 gains it: alert
    (tmp_path / "in").mkdir()
    plan, _, _ = _run(tmp_path / "in", {"u1": [STAFF, ADMINS], "u2": [STAFF, ADMINS]})
    assert len(_alerted(plan)) == 2
    repo = (tmp_path / "in" / "repository.csv").read_text("utf-8").replace(
        f'0,u1,"{STAFF}"', f'0,u1,"{STAFF};{ADMINS}"')
    (tmp_path / "in" / "repository.csv").write_text(repo, encoding="utf-8")
    compare(tmp_path / "in" / "recondiff.toml", tmp_path / "out2")
    plan = load_plan(tmp_path / "out2" / "plan.jsonl")
    assert _alerted(plan) == [("u2", PRIVILEGED_GROUP_ALERT)]


def test_a_rule_alert_wins_and_its_response_stays(tmp_path: Path) -> None:
    rule = (
        "\n[[attribute.rule]]\nmatch = \"CN=Domain Admins,*\"\nkind = \"added\"\n"
        "response = \"reject\"\nalert = \"DA outside IAM\"\n"
    )
    plan, report, _ = _run(tmp_path, {"u1": [STAFF, ADMINS], "u2": [STAFF, "CN=DnsAdmins,CN=Users,DC=ex"]},
                           attributes=rule)
    events = {e["object"]["key"]: e for e in plan["events"] if e["alert"]}
    assert (events["u1"]["alert"], events["u1"]["response"]) == ("DA outside IAM", "reject")
    dns = events["u2"]
    assert (dns["alert"], dns["response"]) == (PRIVILEGED_GROUP_ALERT, "review")
    assert len(report["alerts"]) == 2


@pytest.mark.parametrize(
    "attributes",
    [
        # a careless catch-all rule: accept every drift quietly
        '\n[[attribute.rule]]\nmatch = "*"\nresponse = "do_nothing"\n',
        # groups are not managed from here: drift is ignored
        'on_drift = "do_nothing"\n',
    ],
)
def test_do_nothing_does_not_silence_the_default(tmp_path: Path, attributes: str) -> None:
    """A do_nothing row has no event: the alerted one is held for review instead."""
    plan, report, _ = _run(tmp_path, {"u1": [STAFF, ADMINS], "u2": [STAFF, "CN=Print,DC=ex"]},
                           attributes=attributes)
    assert _alerted(plan) == [("u1", PRIVILEGED_GROUP_ALERT)]
    assert [(e["object"]["key"], e["response"], e["approval"]["state"])
            for e in plan["events"]] == [("u1", "review", "pending")]
    assert [a["endpoint_key"] for a in report["alerts"]] == ["u1"]


def test_unowned_accounts_holding_a_privileged_group_or_admin_count_alert(tmp_path: Path) -> None:
    extra = {"orphan2": {"adminCount": "1"}, "u1": {"adminCount": "1"}}
    _, report, _ = _run(
        tmp_path, {"u1": [STAFF]},
        unowned={"orphan": [STAFF, "CN=Backup Operators,CN=Builtin,DC=ex"], "orphan2": [STAFF],
                 "plain": [STAFF]},
        extra_columns=extra,
    )
    got = sorted((a["kind"], a["endpoint_key"], a["attribute"], a["value"], a["text"])
                 for a in report["alerts"])
    assert got == [
        ("privileged_unmatched", "orphan", "memberOf", "CN=Backup Operators,CN=Builtin,DC=ex",
         f"{PRIVILEGED_GROUP_ALERT} (an account no identity owns)"),
        ("privileged_unmatched", "orphan2", "adminCount", "1",
         f"{ADMIN_COUNT_ALERT} (an account no identity owns)"),
    ]
    for alert in report["alerts"]:
        assert report["details"][alert["detail"]]["endpoint_key"] == alert["endpoint_key"]


def test_admin_count_mapped_alerts_when_the_repository_says_no_admin(tmp_path: Path) -> None:
    mapping = '\n[[attribute]]\nendpoint = "adminCount"\nrepository = "adminCount"\ncompare = "integer"\n'
    extra = {"u1": {"adminCount": "1", "repo_adminCount": "1"},
             "u2": {"adminCount": "1", "repo_adminCount": "0"},
             "u3": {"adminCount": "1"},
             "u4": {"adminCount": "0", "repo_adminCount": "1"}}
    plan, _, _ = _run(tmp_path, {k: [STAFF] for k in extra}, attributes=mapping,
                      extra_columns=extra)
    alerted = sorted(e["object"]["key"] for e in plan["events"] if e["alert"])
    assert alerted == ["u2", "u3"]
    assert {e["alert"] for e in plan["events"] if e["alert"]} == {ADMIN_COUNT_ALERT}


def test_primary_group_id_mapped_alerts_like_a_group(tmp_path: Path) -> None:
    """primaryGroupID 512 (Domain Admins) is a membership memberOf never lists."""
    mapping = ('\n[[attribute]]\nendpoint = "primaryGroupID"\nrepository = "primaryGroupID"\n'
               'compare = "integer"\n')
    extra = {"u1": {"primaryGroupID": "512", "repo_primaryGroupID": "512"},
             "u2": {"primaryGroupID": "512", "repo_primaryGroupID": "513"},
             "u3": {"primaryGroupID": "519"},
             "u4": {"primaryGroupID": "513", "repo_primaryGroupID": "512"},
             "u5": {"primaryGroupID": "0516", "repo_primaryGroupID": "1"}}
    plan, _, _ = _run(tmp_path, {k: [STAFF] for k in extra}, attributes=mapping,
                      extra_columns=extra)
    alerted = sorted(e["object"]["key"] for e in plan["events"] if e["alert"])
    assert alerted == ["u2", "u3", "u5"]
    assert {e["alert"] for e in plan["events"] if e["alert"]} == {PRIVILEGED_GROUP_ALERT}


def test_accounts_neither_linked_nor_correlated_alert_in_the_report(tmp_path: Path) -> None:
    """duplicate_key (and collision, ambiguous, excluded) has no drift: the report reads
    its snapshot groups and primaryGroupID, and names its situation."""
    members = {"dup": [STAFF]}
    _run(tmp_path, members, unowned={"pg": [STAFF]},
         extra_columns={"pg": {"primaryGroupID": "512"}, "dup": {"primaryGroupID": "513"}})
    ep = tmp_path / "endpoint.csv"
    lines = ep.read_text("utf-8").splitlines()
    lines.append(f'dup,512,"{STAFF};{ADMINS}",513')
    ep.write_text("\n".join(lines) + "\n", encoding="utf-8")
    compare(tmp_path / "recondiff.toml", tmp_path / "out2")
    report = json.loads((tmp_path / "out2" / "report.json").read_text("utf-8"))
    got = sorted((a["endpoint_key"], a["situation"], a["attribute"], a["value"])
                 for a in report["alerts"])
    assert got == [("dup", "duplicate_key", "memberOf", ADMINS),
                   ("pg", "unmatched", "primaryGroupID", "512")]
    texts = {a["endpoint_key"]: a["text"] for a in report["alerts"]}
    assert "key another account also has" in texts["dup"]


def test_token_groups_match_well_known_groups_by_rid_in_any_language(tmp_path: Path) -> None:
    """tokenGroups holds the groups' SIDs (transitive, primary group included): a German
    AD's Domänen-Admins is S-1-5-21-...-512 like any Domain Admins."""
    mapping = ('\n[[attribute]]\nendpoint = "tokenGroups"\nrepository = "tokenGroups"\n'
               'compare = "set"\n')
    extra = {"u1": {"tokenGroups": "S-1-5-21-10-20-30-512"},
             "u2": {"tokenGroups": "S-1-5-21-10-20-30-513"},
             "u3": {"tokenGroups": "S-1-5-32-551", "repo_tokenGroups": "S-1-5-32-551"},
             "u4": {"tokenGroups": "S-1-5-32-544"},
             "orphan": {"tokenGroups": "S-1-5-21-10-20-30-519"}}
    plan, report, _ = _run(tmp_path, {k: [STAFF] for k in extra if k != "orphan"},
                           attributes=mapping, extra_columns=extra, unowned={"orphan": [STAFF]})
    assert _alerted(plan) == [("u1", PRIVILEGED_GROUP_ALERT), ("u4", PRIVILEGED_GROUP_ALERT)]
    assert [(a["endpoint_key"], a["value"]) for a in report["alerts"]
            if a["kind"] == "privileged_unmatched"] == [("orphan", "S-1-5-21-10-20-30-519")]


def test_not_ad_has_no_default_list(tmp_path: Path) -> None:
    members = {"u1": [STAFF, ADMINS]}
    (tmp_path / "a").mkdir()
    plan, _, _ = _run(tmp_path / "a", members)
    assert len(_alerted(plan)) == 1
    config = (tmp_path / "a" / "recondiff.toml")
    config.write_text(config.read_text("utf-8").replace('kind = "ad"', 'kind = "openldap"'),
                      encoding="utf-8")
    compare(config, tmp_path / "b")
    assert _alerted(load_plan(tmp_path / "b" / "plan.jsonl")) == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('privileged_groups = ["Tier0", " "]', "privileged_groups #2 is blank"),
        ('privileged_groups = "Tier0"', "privileged_groups"),
        ('privileged_alerts = "no"', "privileged_alerts"),
    ],
)
def test_config_errors_are_one_line(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "endpoint.csv").write_text("sAMAccountName\n", encoding="utf-8")
    (tmp_path / "repository.csv").write_text("id,ad_account,groups\n", encoding="utf-8")
    config = tmp_path / "recondiff.toml"
    config.write_text(BASE_CONFIG.format(endpoint_extra=line, attributes=""), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_config_reads_the_keys(tmp_path: Path) -> None:
    config = tmp_path / "recondiff.toml"
    config.write_text(BASE_CONFIG.format(
        endpoint_extra='privileged_groups = [" Tier0 "]\nprivileged_alerts = false', attributes=""),
        encoding="utf-8")
    cfg = load_config(config)
    assert cfg.endpoint.privileged_groups == ("Tier0",)
    assert cfg.endpoint.privileged_alerts is False
    assert cfg.endpoint.privileged_attributes() == ()
    on = replace(cfg.endpoint, privileged_alerts=True)
    assert on.privileged_attributes() == ("memberOf", "adminCount", "primaryGroupID")
    assert replace(on, kind="openldap").privileged_attributes() == ("memberOf",)
    assert replace(on, kind="openldap", privileged_groups=()).privileged_attributes() == ()


def test_leap_second_and_sid_authority_edges() -> None:
    # a leap second (23:59:60 UTC, also through an offset) is written 23:59:59
    assert ad.decode_values("whenChanged", [b"20161231235960Z", b"20170101005960+0100"]) == [
        "2016-12-31T23:59:59Z", "2016-12-31T23:59:59Z"]
    # an offset at its limits still applies
    assert ad.decode_values("whenChanged", [b"20240115103000-2359"]) == ["2024-01-16T10:29:00Z"]
    # an authority under 2^32 stays decimal (MS-DTYP 2.4.2.1)
    raw = bytes.fromhex("010100 00ffffffff 07000000".replace(" ", ""))
    assert ad.decode_values("objectSid", [raw]) == ["S-1-4294967295-7"]
