"""Issue 16's three-run scenario against a real slapd (tests/data/scenario/README.md).

Run 1: compare signs its plan; a reviewer (with their own key) rejects jdoe's
title change, accepts asmith's missing vpn membership until tomorrow, gives
the orphan ghost its owner, and approves bwong's disable by selector; apply
(checking every signature) runs what is approved. Run 2, an hour later:
nothing is proposed for the rejected and accepted findings (the accepted one
is listed as such) and ghost is linked. Run 3, two days later: the accepted
deviation is back, the rejection is not. Then a tampered ledger (an edited,
a removed line) and a plan re-sealed by hand are refused with one line.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from recondiff.cli.main import cli
from recondiff.plan.file import canonical, iter_events, read_header
from recondiff.plan.ledger import ledger_path
from tests.conftest import ROOT, require_system
from tests.slapd import Slapd, available

pytestmark = [pytest.mark.system, pytest.mark.slow]  # slapd, ldap-utils

DATA = ROOT / "tests" / "data" / "scenario"
LDAPSEARCH = shutil.which("ldapsearch")
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # run 1; the acceptance lasts a day


@pytest.fixture
def server(tmp_path: Path) -> Any:
    require_system("slapd (Debian packages slapd and ldap-utils)", available() and bool(LDAPSEARCH))
    ldap = Slapd(tmp_path / "slapd")
    try:
        ldap.load(DATA / "directory.ldif")
        yield ldap
    finally:
        ldap.stop()


class Scenario:
    def __init__(self, server: Slapd, tmp_path: Path) -> None:
        self.server = server
        self.run = tmp_path / "run"
        self.run.mkdir()
        for name in ("recondiff.toml", "identities.csv"):
            shutil.copy(DATA / name, self.run / name)
        (self.run / "keys").mkdir()
        trust = self.cli("keys", "generate", "--name", "compare-ci", "--role", "plan",
                         "--out", str(self.run / "keys" / "compare"))  # fmt: skip
        trust += self.cli("keys", "generate", "--name", "j.smith",
                          "--out", str(self.run / "keys" / "jsmith"))  # fmt: skip
        (self.run / "trust.toml").write_text(trust, encoding="utf-8")
        self.key = str(self.run / "keys" / "jsmith")

    @property
    def plan(self) -> Path:
        return self.run / "out" / "plan.jsonl"

    def cli(self, *args: str, code: int = 0, env: dict[str, str] | None = None) -> str:
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == code, (args, result.stderr)
        return result.stdout if code == 0 else result.stderr

    def export(self) -> None:
        assert LDAPSEARCH
        done = subprocess.run(
            [LDAPSEARCH, "-LLL", "-x", "-o", "ldif-wrap=no", "-H", self.server.url,
             "-D", self.server.admin_dn, "-y", str(self.server.password_file),
             "-b", f"ou=people,{self.server.base}", "(objectClass=inetOrgPerson)",
             "*", "memberOf", "pwdAccountLockedTime", "entryUUID"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        (self.run / "directory-export.ldif").write_text(done.stdout, encoding="utf-8")

    def compare(self, now: datetime) -> dict[str, Any]:
        self.export()
        env = {"RECONDIFF_NOW": now.isoformat()}
        config = str(self.run / "recondiff.toml")
        self.cli("compare", "-c", config, "-o", str(self.run / "out"), code=1, env=env)
        summary: dict[str, Any] = json.loads((self.run / "out" / "summary.json").read_text())
        return summary

    def events(self) -> list[dict[str, Any]]:
        return list(iter_events(self.plan))

    def find(self, operation: str, key: str, situation: str | None = None,
             attribute: str | None = None) -> dict[str, Any]:
        hits = [
            e for e in self.events()
            if e["operation"] == operation and key in _keys(e)
            and situation in (None, e["reason"]["situation"])
            and (attribute is None or _touches(e, attribute))
        ]  # fmt: skip
        assert len(hits) == 1, (operation, key, hits)
        return hits[0]

    def apply(self, *extra: str, code: int = 0) -> str:
        return self.cli(
            "apply", str(self.plan), "-c", str(self.run / "recondiff.toml"),
            "--url", self.server.url, "--bind-dn", self.server.admin_dn,
            "--password-env", "RD_PW", "--allow-plaintext", *extra,
            code=code, env={"RD_PW": self.server.password},
        )  # fmt: skip


def test_three_runs_remember_decisions_and_link_the_orphan(server: Slapd, tmp_path: Path) -> None:
    s = Scenario(server, tmp_path)
    people = f"ou=people,{server.base}"

    # -- run 1 ------------------------------------------------------------------------
    s.compare(T0)
    assert read_header(s.plan)["signature"]["key"].startswith("SHA256:")
    title = s.find("modify", "jdoe", attribute="title")  # Engineer -> Senior Engineer: review
    assert [c["attribute"] for c in title["changes"]] == ["title", "title"]
    vpn = s.find("modify", "asmith", attribute="member")  # add asmith to vpn: to review
    owner = s.find("link", "ghost", "unmatched")
    assert owner["owner"]["default_identity"] == "1006"
    s.cli("plan", "reject", str(s.plan), "--event", title["id"], "--key", s.key,
          "--comment", "CHG-1: the title waits for HR")  # fmt: skip
    until = (T0 + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S%z")
    s.cli("plan", "accept", str(s.plan), "--event", vpn["id"], "--key", s.key,
          "--comment", "CHG-2: no vpn for asmith this week", "--until", until)  # fmt: skip
    s.cli("plan", "assign", str(s.plan), "--event", owner["id"], "--identity", "1006",
          "--key", s.key)  # fmt: skip
    approved = s.cli("plan", "approve", str(s.plan), "--situation", "deleted_in_repository",
                     "--key", s.key)  # fmt: skip
    assert approved.split() == [s.find("disable", "bwong")["id"]]
    ledger = [json.loads(x) for x in ledger_path(s.plan).read_text().splitlines()]
    assert [(x["decision"], x["by"]) for x in ledger] == [
        ("rejected", "j.smith"), ("accepted", "j.smith"), ("assigned", "j.smith"),
        ("approved", "j.smith"),
    ]  # fmt: skip
    assert all(x["signature"] for x in ledger)

    out = s.apply("--allow-modifies", "2", "--allow-mass-change", "1",
                  "--allow-membership-removals", "1")  # fmt: skip
    outcomes = {line.split("\t")[0]: line.split("\t")[1] for line in out.splitlines()}
    assert outcomes[s.find("disable", "bwong")["id"]] == "applied"
    assert outcomes[title["id"]] == "skipped" and outcomes[vpn["id"]] == "skipped"
    assert server.values(f"uid=jdoe,{people}", "title") == ["Engineer"]  # rejected: kept
    assert server.values(f"uid=bwong,{people}", "pwdAccountLockedTime") == ["000001010000Z"]

    # -- run 2, an hour later -----------------------------------------------------------
    second = s.compare(T0 + timedelta(hours=1))
    assert not [e for e in s.events() if e["object"]["key"] == "jdoe" and _touches(e, "title")]
    assert not [e for e in s.events() if "asmith" in _keys(e)]
    accepted = read_header(s.plan)["accepted"]
    assert [(a["decision"], a["by"]) for a in accepted] == [
        ("rejected", "j.smith"), ("accepted", "j.smith")
    ]
    assert second["situations"]["unmatched"] == 0  # ghost is linked, to 1006
    assert not [e for e in s.events() if "ghost" in _keys(e)]
    show = s.cli("plan", "show", str(s.plan))
    assert "CHG-2: no vpn for asmith this week" in show

    # -- run 3, two days later: the acceptance expired, the rejection stays ----------------
    s.compare(T0 + timedelta(days=2))
    assert s.find("modify", "asmith", attribute="member")["approval"]["state"] == "pending"
    assert not [e for e in s.events() if e["object"]["key"] == "jdoe" and _touches(e, "title")]

    # -- tampering: refused with one line, nothing sent ----------------------------------
    vpn3 = s.find("modify", "asmith", attribute="member")
    s.cli("plan", "approve", str(s.plan), "--event", vpn3["id"], "--key", s.key)
    s.cli("plan", "reject", str(s.plan), "--event", vpn3["id"], "--key", s.key)
    path = ledger_path(s.plan)
    good = path.read_bytes()
    lines = good.splitlines(keepends=True)
    path.write_bytes(lines[0].replace(b'"approved"', b'"rejected"') + lines[1])  # line 1 edited
    err = s.apply(code=2)
    assert err.count("\n") == 1 and "line 2: the hash chain is broken" in err
    path.write_bytes(lines[0] + lines[1].replace(b'"rejected"', b'"approved"'))  # the last, flipped
    err = s.apply(code=2)  # nothing chains after it: its signature catches it
    assert err.count("\n") == 1 and "line 2" in err and "does not match" in err
    path.write_bytes(lines[1])  # the approval removed: the chain breaks
    err = s.apply(code=2)
    assert err.count("\n") == 1 and "hash chain is broken" in err
    path.write_bytes(lines[0])  # the rejection removed from the end: only the head pin sees it
    head = _head_of(good)
    err = s.apply("--decisions-head", head, code=2)
    assert err.count("\n") == 1 and "--decisions-head" in err
    path.unlink()  # the forger starts a ledger of their own

    header, *events = s.plan.read_bytes().splitlines()
    forged = json.loads(events[0])
    forged["changes"][-1]["values"] = ["cn=admins,ou=groups,dc=example,dc=org"]
    body = [canonical(forged), *events[1:]]
    _reseal(s.plan, json.loads(header), body)
    err = s.apply("--allow-modifies", "5", code=2)
    assert err.count("\n") == 1 and "the signature by 'compare-ci'" in err and "does not match" in err
    assert server.values(f"uid=asmith,{people}", "memberOf") == [
        f"cn=staff,ou=groups,{server.base}"
    ]


def _keys(event: dict[str, Any]) -> set[str | None]:
    obj = event["object"]
    return {obj["key"], (obj.get("member_of") or {}).get("key")}


def _touches(event: dict[str, Any], attribute: str) -> bool:
    return any(c["attribute"].lower() == attribute for c in event["changes"])


def _head_of(ledger: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(ledger.splitlines()[-1]).hexdigest()


def _reseal(plan: Path, header: dict[str, Any], events: list[bytes]) -> None:
    """The issue's forgery: events edited, the digest recomputed, the old signature kept."""
    import hashlib

    from recondiff.plan.file import digest_with  # the recipe is public: that is the point

    lines = b"".join(e + b"\n" for e in events)
    header["digest"] = digest_with(header, hashlib.sha256(lines).hexdigest())
    plan.write_bytes(canonical(header) + b"\n" + lines)
