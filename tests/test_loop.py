"""The whole loop against a real OpenLDAP server (tests/data/loop/README.md).

load the directory -> export it with ldapsearch -> compare with identities.csv
-> approve -> apply -> export again -> compare again: every applied change is
gone from the drift, the locked accounts stay locked, and only the repository
side (a link for the identity system's feed) is left.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from recondiff.apply.transport import LdapTarget
from recondiff.compare import compare
from recondiff.plan.file import load_plan
from tests.conftest import ROOT, require_system
from tests.plans import apply_unsigned as apply_plan
from tests.plans import decide
from tests.plans import save_with_decisions as save_plan
from tests.slapd import Slapd, available

pytestmark = pytest.mark.system  # slapd, ldap-utils

LOOP = ROOT / "tests" / "data" / "loop"
LDAPSEARCH = shutil.which("ldapsearch")


@pytest.fixture
def server(tmp_path: Path) -> Any:
    require_system("slapd (Debian packages slapd and ldap-utils)", available() and bool(LDAPSEARCH))
    ldap = Slapd(tmp_path / "slapd")
    try:
        ldap.load(LOOP / "directory.ldif")
        yield ldap
    finally:
        ldap.stop()


def export(ldap: Slapd, out: Path) -> None:
    """What an operator would run: every person, with memberOf and the lock attribute."""
    assert LDAPSEARCH
    result = subprocess.run(
        [LDAPSEARCH, "-LLL", "-x", "-o", "ldif-wrap=no", "-H", ldap.url, "-D", ldap.admin_dn,
         "-y", str(ldap.password_file), "-b", f"ou=people,{ldap.base}",
         "(objectClass=inetOrgPerson)", "*", "memberOf", "pwdAccountLockedTime"],
        capture_output=True, text=True, check=True,
    )
    out.write_text(result.stdout, encoding="utf-8")


def setup_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    for name in ("recondiff.toml", "identities.csv"):
        shutil.copy(LOOP / name, run / name)
    return run


def endpoint_events(plan: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [
        (e["operation"], e["response"], e["object"]["key"] or e["object"]["dn"])
        for e in plan["events"]
        if e["target"] == "endpoint"
    ]


@pytest.mark.slow
def test_compare_approve_apply_compare_leaves_no_drift(server: Slapd, tmp_path: Path) -> None:
    run = setup_run(tmp_path)
    export(server, run / "directory-export.ldif")
    first = compare(run / "recondiff.toml", run / "out1")
    assert first.summary["situations"] | {} == {
        "linked": 2, "correlated": 1, "collision": 0, "ambiguous": 0, "unmatched": 1,
        "missing": 1, "deleted_in_repository": 1, "excluded": 0, "duplicate_key": 0,
    }
    assert first.summary["drift"]["by_attribute"] == {"cn": 0, "sn": 0, "title": 1, "memberOf": 2}

    plan_path = run / "out1" / "plan.jsonl"
    plan = load_plan(plan_path)
    assert endpoint_events(plan) == [
        ("modify", "update_endpoint", "jdoe"),
        ("modify", "reject", "cn=admins,ou=groups,dc=example,dc=org"),
        ("modify", "review", "cn=vpn,ou=groups,dc=example,dc=org"),
        ("disable", "review", "ghost"),
        ("add", "add_to_endpoint", "egreen"),
        ("modify", "add_to_endpoint", "cn=staff,ou=groups,dc=example,dc=org"),
        ("disable", "disable_in_endpoint", "bwong"),
    ]
    assert [e["alert"] for e in plan["events"] if e["alert"]] == [
        "admins membership granted outside the identity system"
    ]
    decide(plan, None, "approved", "change-board", "CHG-1042")
    save_plan(plan, plan_path)

    target = LdapTarget(server.url, server.admin_dn, server.password, allow_plaintext=True)
    # on five accounts every change is over a percentage default: explicitly allowed
    allow = {"membership_removals": 1, "modifies": 4}
    result = apply_plan(plan_path, target, allow_mass_change=2, allow=allow)
    assert [o.outcome for o in result.outcomes] == ["applied"] * 7
    assert result.exit_code == 0

    export(server, run / "directory-export.ldif")
    second = compare(run / "recondiff.toml", run / "out2")
    assert second.summary["drift"]["accounts"] == 0
    assert second.summary["situations"]["missing"] == 0
    assert second.summary["situations"]["linked"] == 3
    again = load_plan(run / "out2" / "plan.jsonl")
    # nothing left to do on the endpoint (bwong and ghost are locked already);
    # cdavis's link is the identity system's to import, not apply's to run
    assert endpoint_events(again) == []
    assert [(e["operation"], e["object"]["key"]) for e in again["events"]] == [("link", "cdavis")]
    assert server.values(f"uid=jdoe,ou=people,{server.base}", "title") == ["Senior Engineer"]
    assert server.values(f"uid=bwong,ou=people,{server.base}", "pwdAccountLockedTime") == [
        "000001010000Z"
    ]
