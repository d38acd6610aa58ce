"""Decisions that persist, end to end through the commands: `plan accept|reject`
append to the plan's ledger, the next `compare` records them as exceptions and
proposes nothing for them, `exceptions revoke` brings them back. A broken
ledger is not recorded (a warning; its findings are proposed again). Dataset:
tests/data/exceptions/README.md.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import read_only
from tests.test_exceptions import DATA, cli, proposed, read_plan


@pytest.fixture
def work(tmp_path: Path) -> Path:
    shutil.copytree(DATA, tmp_path / "in")
    return tmp_path


def _compare(work: Path) -> dict[str, Any]:
    done = cli("compare", "-c", str(work / "in" / "recondiff.toml"), "-o", str(work / "out"))
    assert done.returncode in (0, 1), done.stderr
    return read_plan(work / "out")


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The dataset and a first ``compare`` of it (the command), once per module:
    read-only, a test takes :func:`_first_compare`."""
    folder = tmp_path_factory.mktemp("compared")
    shutil.copytree(DATA, folder / "in")
    _compare(folder)
    with read_only(folder):
        yield folder


def _first_compare(compared: Path, work: Path) -> dict[str, Any]:
    """What ``_compare(work)`` leaves and returns on the dataset as it is, copied."""
    shutil.copytree(compared / "out", work / "out")
    return read_plan(work / "out")


def _event(plan: dict[str, Any], account: str, attribute: str | None = None) -> str:
    (event,) = proposed(plan, account, attribute)
    return str(event["id"])


def test_accept_and_reject_persist_across_compares(work: Path, compared: Path) -> None:
    plan = _first_compare(compared, work)
    plan_file = str(work / "out" / "plan.jsonl")
    accepted = cli("plan", "accept", plan_file, "--event", _event(plan, "bob", "mail"),
                   "--by", "J. Smith", "--comment", "CHG-42 private mail", "--until",
                   "2099-01-31")
    assert accepted.returncode == 0, accepted.stderr
    rejected = cli("plan", "reject", plan_file, "--event", _event(plan, "ghost"),
                   "--by", "J. Smith", "--comment", "service account")
    assert rejected.returncode == 0, rejected.stderr
    plan2 = _compare(work)
    assert proposed(plan2, "bob", "mail") == [] and proposed(plan2, "ghost") == []
    assert len(proposed(plan2, "bob", "title")) == 1
    assert sorted((a["account"], a["decision"], a.get("until")) for a in plan2["accepted"]) == [
        ("bob", "accepted", "2099-01-31T00:00:00+00:00"), ("ghost", "rejected", None),
    ]
    # the replaced plan's ledger is kept (OUTDIR/decided/); the new plan has none
    out = work / "out"
    assert not (out / "plan.decisions.jsonl").exists()
    (kept,) = (out / "decided").glob(f"*-{str(plan['digest'])[7:19]}/plan.decisions.jsonl")
    assert len(kept.read_text("utf-8").splitlines()) == 2
    shown = cli("plan", "show", str(out / "plan.jsonl"))
    assert shown.returncode == 0 and "accepted (2)" in shown.stdout
    # a third run: still recorded once, still suppressed
    plan3 = _compare(work)
    assert len(plan3["accepted"]) == 2
    listed = json.loads(cli("exceptions", "list", str(out), "--json").stdout)
    assert len(listed) == 2
    # revoked: back in the next run
    ghost = next(r for r in listed if r["account"] == "ghost")
    assert cli("exceptions", "revoke", ghost["id"], str(out), "--by", "A. Auditor").returncode == 0
    assert len(proposed(_compare(work), "ghost")) == 1


def test_a_tampered_ledger_is_not_recorded(work: Path, compared: Path) -> None:
    plan = _first_compare(compared, work)
    plan_file = work / "out" / "plan.jsonl"
    done = cli("plan", "reject", str(plan_file), "--event", _event(plan, "ghost"), "--by", "X")
    assert done.returncode == 0, done.stderr
    done = cli("plan", "approve", str(plan_file), "--event", _event(plan, "alice", "memberOf"),
               "--by", "X")
    assert done.returncode == 0, done.stderr
    # the first line edited: the second's hash of it no longer matches (an unsigned
    # ledger's last line can be edited unseen: signatures, [trust], catch that)
    ledger = work / "out" / "plan.decisions.jsonl"
    ledger.write_text(ledger.read_text("utf-8").replace('"by":"X"', '"by":"Y"', 1), "utf-8")
    compared = cli("compare", "-c", str(work / "in" / "recondiff.toml"), "-o",
                   str(work / "out"))
    assert compared.returncode == 1, compared.stderr
    assert "its decisions were not recorded as exceptions" in compared.stderr
    plan2 = read_plan(work / "out")
    assert len(proposed(plan2, "ghost")) == 1 and plan2["accepted"] == []
    assert cli("exceptions", "list", str(work / "out"), "--json", "--all").stdout.strip() == "[]"


def test_with_trust_only_signed_decisions_are_recorded(work: Path) -> None:
    """With [trust], the replaced plan and its decisions are checked as apply checks
    them: a decision signed by a trusted reviewer is recorded; an unsigned one (anyone
    who can write the output directory could have appended it) is not."""
    keys = work / "keys"
    keys.mkdir()
    entries = []
    for name, role in (("compare", "plan"), ("reviewer", "decide")):
        made = cli("keys", "generate", "--name", name, "--role", role, "--out",
                   str(keys / name))
        assert made.returncode == 0, made.stderr
        entries.append(made.stdout)
    (work / "in" / "trust.toml").write_text("\n".join(entries), "utf-8")
    config = work / "in" / "recondiff.toml"
    text = config.read_text("utf-8").replace(
        "[situations]", '[trust]\nfile = "trust.toml"\n\n[situations]'
    )
    config.write_text(
        text.replace('[endpoint]\n', f'[plan]\nsigning_key = "{keys / "compare"}"\n\n'
                     "[endpoint]\n", 1),
        "utf-8",
    )
    plan = _compare(work)
    assert plan.get("signature"), "compare signs the plan"
    plan_file = str(work / "out" / "plan.jsonl")
    signed = cli("plan", "accept", plan_file, "--event", _event(plan, "bob", "mail"),
                 "--by", "reviewer", "--comment", "ok", "--key", str(keys / "reviewer"))
    assert signed.returncode == 0, signed.stderr
    plan2 = _compare(work)
    assert proposed(plan2, "bob", "mail") == []
    unsigned = cli("plan", "reject", plan_file, "--event", _event(plan2, "ghost"),
                   "--by", "reviewer")
    assert unsigned.returncode == 0, unsigned.stderr
    compared = cli("compare", "-c", str(config), "-o", str(work / "out"))
    assert "its decisions were not recorded as exceptions" in compared.stderr
    assert "not signed" in compared.stderr
    plan3 = read_plan(work / "out")
    assert len(proposed(plan3, "ghost")) == 1
    assert proposed(plan3, "bob", "mail") == []
