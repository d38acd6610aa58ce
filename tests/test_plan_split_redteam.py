"""Second reader of the auto/reviewed split (issue 16 point 7, commit 15f3d35).

Holes found by trying to get a change that needs review into an account's auto
modify, or an auto modify that makes the reviewed one fail. The split holds an
attribute with any change to review whole in the reviewed event; it compared
attribute names lower-cased only, so two [[attribute]] naming the same LDAP
attribute type under another spelling (an alias such as ``surname`` for ``sn``,
or the OID ``2.5.4.4``) were split across the two events: the auto one changed
the attribute type the reviewed one asserts and changes, without approval.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from recondiff.apply.transport import LdapTarget
from recondiff.compare import compare
from recondiff.errors import ConfigError
from recondiff.plan.file import load_plan
from tests.conftest import ROOT
from tests.plans import apply_unsigned as apply_plan
from tests.slapd import Slapd
from tests.test_plan_split import ASMITH, JDOE, _export, server  # noqa: F401 (a fixture)

CASE = ROOT / "tests" / "data" / "plan_split"

# the names one LDAP attribute type goes by in these tests (RFC 4519)
SN_NAMES = {"sn", "surname", "2.5.4.4", "1.3.6.1.4.1.99999.4"}

CONFIG = """
[endpoint]
name = "alias"
snapshot = "export.ldif"
key = "uid"
kind = "openldap"

[repository]
snapshot = "identities.csv"
key = "id"
link = "account"

[[attribute]]
endpoint = "sn"
repository = "last_name"
on_drift = "{sn_response}"

[[attribute]]
endpoint = "{alias}"
repository = "title"
on_drift = "{alias_response}"

[situations]
linked = "do_nothing"
"""


def _plan(tmp_path: Path, alias: str, sn_response: str, alias_response: str) -> dict[str, Any]:
    """The tiny case's people, with the surname also exported under ``alias``."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(CASE / "identities.csv", run / "identities.csv")
    export = (CASE / "export.ldif").read_text(encoding="utf-8")
    export = export.replace("sn: Doe\n", f"sn: Doe\n{alias}: Engineer\n")
    export = export.replace("sn: Smith\n", f"sn: Smith\n{alias}: Analyst\n")
    (run / "export.ldif").write_text(export, encoding="utf-8")
    (run / "recondiff.toml").write_text(
        CONFIG.format(alias=alias, sn_response=sn_response, alias_response=alias_response),
        encoding="utf-8",
    )
    compare(run / "recondiff.toml", run / "out")
    return load_plan(run / "out" / "plan.jsonl")


def _sn_touched(event: dict[str, Any]) -> bool:
    items = event["changes"] + event["preconditions"]
    return any(i["attribute"].lower() in SN_NAMES for i in items)


@pytest.mark.parametrize("alias", ["surname", "2.5.4.4", "SURNAME"])
def test_a_config_mapping_one_attribute_under_two_names_is_refused(
    tmp_path: Path, alias: str
) -> None:
    """The config refuses sn and its alias or OID mapped twice, before any plan:
    the split (below) is the second line for names it cannot know."""
    with pytest.raises(ConfigError, match=rf"endpoint '{alias}' is another name of 'sn'"):
        _plan(tmp_path, alias, "update_endpoint", "review")


# 1.3.6.1.4.1.99999.4: an OID recondiff cannot name might be sn, so it is held with it
@pytest.mark.parametrize("alias", ["1.3.6.1.4.1.99999.4"])
@pytest.mark.parametrize(
    ("sn_response", "alias_response"),
    [("update_endpoint", "review"), ("review", "update_endpoint")],
)
def test_an_alias_of_a_reviewed_attribute_is_not_changed_automatically(
    tmp_path: Path, alias: str, sn_response: str, alias_response: str
) -> None:
    plan = _plan(tmp_path, alias, sn_response, alias_response)
    jdoe = [e for e in plan["events"] if e["object"]["key"] == "jdoe"]
    assert jdoe, plan["events"]
    for e in jdoe:
        if _sn_touched(e):
            assert e["approval"]["required"], (e["response"], e["changes"])
    # no reviewed drift anywhere in an auto event
    for e in plan["events"]:
        if not e["approval"]["required"]:
            assert all(d["response"] != "review" for d in e["reason"].get("drift", []))


def test_the_drift_of_a_correlated_pair_waits_for_its_link_to_be_reviewed(
    tmp_path: Path,
) -> None:
    """``correlated = "review"``: whether asmith is identity 1002 is a human's call,
    so the drift fixes it proposes (title, update_endpoint) wait with the link. They
    were an auto modify, applied to an account nobody confirmed: before the split when
    none of the pair's drift needed review, and since it for every auto attribute."""
    run = _correlated_run(tmp_path)
    compare(run / "recondiff.toml", run / "out")
    plan = load_plan(run / "out" / "plan.jsonl")
    asmith = [
        (e["operation"], e["approval"]["state"], sorted({c["attribute"] for c in e["changes"]}))
        for e in plan["events"]
        if e["object"]["key"] == "asmith"
    ]
    assert asmith == [
        ("link", "pending", ["account"]),
        ("modify", "pending", ["title"]),
    ]
    # the linked pair's auto changes still go on without waiting
    jdoe = [e["approval"]["state"] for e in plan["events"] if e["object"]["key"] == "jdoe"]
    assert jdoe == ["auto", "pending"]


def _correlated_run(tmp_path: Path) -> Path:
    """The tiny case with asmith unlinked, found by mail, ``correlated = "review"``."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(CASE / "export.ldif", run / "export.ldif")
    ids = (CASE / "identities.csv").read_text(encoding="utf-8")
    (run / "identities.csv").write_text(ids.replace("1002,asmith,", "1002,,"), encoding="utf-8")
    config = (CASE / "recondiff.toml").read_text(encoding="utf-8")
    config = config.replace(
        'linked = "do_nothing"', 'linked = "do_nothing"\ncorrelated = "review"'
    ).replace(
        '[[attribute]]\nendpoint = "sn"',
        '[[correlation]]\nname = "by-mail"\nendpoint = "mail"\nrepository = "email"\n\n'
        '[[attribute]]\nendpoint = "sn"',
        1,
    )
    (run / "recondiff.toml").write_text(config, encoding="utf-8")
    return run


@pytest.mark.system
def test_apply_leaves_an_unconfirmed_pair_alone(server: Slapd, tmp_path: Path) -> None:  # noqa: F811
    """Against slapd: --dry-run and a real apply with nothing approved change jdoe's
    auto attributes only; asmith (correlated, its link pending) keeps its title."""
    run = _correlated_run(tmp_path)
    _export(server, run / "export.ldif")
    compare(run / "recondiff.toml", run / "out")
    plan_path = run / "out" / "plan.jsonl"
    target = LdapTarget(server.url, server.admin_dn, server.password, allow_plaintext=True)
    allow = {"modifies": 3}
    dry = apply_plan(plan_path, target, allow=allow, dry_run=True)
    assert server.values(JDOE, "sn") == ["Doe"]  # a dry run writes nothing
    result = apply_plan(plan_path, target, allow=allow)
    assert result.exit_code == 0
    ran = {o.event_id for o in result.outcomes if o.outcome == "applied"}
    assert ran == {o.event_id for o in dry.outcomes if o.outcome != "skipped"}
    assert len(ran) == 1
    assert server.values(JDOE, "sn") == ["Doe-Smith"]
    assert server.values(JDOE, "mail") == ["jdoe@example.org"]
    assert server.values(ASMITH, "title") == ["Analyst"]
