"""Decisions that persist across runs (issue 16 point 4; docs/plan.md).

A reviewer's accept or reject of an event is recorded in the run history as
exceptions, one per finding the event comes from; the next compare of the same
config proposes nothing for those findings while the exception is active, and
lists them in the plan header's ``accepted``, in the report and in ``plan show``.
The dataset and its differences: tests/data/exceptions/README.md.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from recondiff.compare import compare
from recondiff.history import Harvest, History
from tests.conftest import ROOT, read_only

DATA = ROOT / "tests" / "data" / "exceptions"
T0 = "2026-12-07T09:00:00+00:00"

Event = dict[str, Any]


# --- helpers (tests/test_exceptions_redteam.py uses them too) -----------------------


@dataclass
class FirstRun:
    """``compare`` of the dataset as it is, once per module: its ``out`` (history
    included), the digests of the inputs it read and the RECONDIFF_* environment
    it ran in. Shared read-only; a :class:`Loop` copies it."""

    out: Path
    inputs: dict[str, str]
    env: dict[str, str]


def _inputs(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _recondiff_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("RECONDIFF_")}


@dataclass
class Loop:
    """The dataset copied to a temporary directory, its output and history there.

    ``first``: the module's :class:`FirstRun`. The loop's first ``run()`` takes a
    copy of its outputs instead of comparing again when it would compare the
    same thing: nothing in ``out`` yet, the default config, the inputs as the
    first run read them (not edited) and the same RECONDIFF_* environment.
    Any other first run compares."""

    inputs: Path
    out: Path
    first: FirstRun | None = None

    @property
    def config(self) -> Path:
        return self.inputs / "recondiff.toml"

    @property
    def history(self) -> History:
        return History(self.out / "history.duckdb")

    def run(self, config: Path | None = None) -> dict[str, Any]:
        """compare; the plan it wrote (header and events)."""
        first, self.first = self.first, None
        if (
            first is not None
            and config is None
            and not self.out.exists()
            and _recondiff_env() == first.env
            and _inputs(self.inputs) == first.inputs
        ):
            shutil.copytree(first.out, self.out)
            return read_plan(self.out)
        compare(config or self.config, self.out)
        return read_plan(self.out)

    def edit(self, file: str, key: str, **values: str) -> None:
        """Set columns of the row whose first cell is ``key`` (a new row when none)."""
        path = self.inputs / file
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
            fields = list(rows[0])
        row = next((r for r in rows if r[fields[0]] == key), None)
        if row is None:
            row = dict.fromkeys(fields, "") | {fields[0]: key}
            rows.append(row)
        row.update(values)
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)

    def drop(self, file: str, key: str) -> None:
        path = self.inputs / file
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        path.write_text(
            "".join(line for line in lines if line.split(",", 1)[0] != key), encoding="utf-8"
        )

    def decide(
        self,
        plan: dict[str, Any],
        pick: Callable[[Event], bool],
        decision: str = "accepted",
        *,
        until: str | None = None,
        seq: int = 1,
        by: str = "J. Smith",
        comment: str | None = "known deviation",
    ) -> Harvest:
        """A ledger line (the contract's fields) deciding the picked events, recorded."""
        chosen = [e for e in plan["events"] if pick(e)]
        assert chosen, "the test picks no event"
        line = {"seq": seq, "decision": decision, "by": by, "comment": comment,
                "at": T0, "until": until, "ids": [e["id"] for e in chosen]}
        return self.history.record_exceptions(plan["digest"], [(e, line) for e in chosen])


def read_plan(out: Path) -> dict[str, Any]:
    """The plan compare wrote: plan.jsonl (header line, then one event a line) or
    plan.json."""
    jsonl = out / "plan.jsonl"
    if jsonl.exists():
        header, *events = (json.loads(x) for x in jsonl.read_text("utf-8").splitlines() if x)
        return header | {"events": events}
    plan: dict[str, Any] = json.loads((out / "plan.json").read_text("utf-8"))
    return plan


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirstRun]:
    folder = tmp_path_factory.mktemp("exceptions-first-run")
    shutil.copytree(DATA, folder / "in")
    env = _recondiff_env()
    compare(folder / "in" / "recondiff.toml", folder / "out")
    with read_only(folder):
        yield FirstRun(folder / "out", _inputs(folder / "in"), env)


@pytest.fixture
def loop(tmp_path: Path, first_run: FirstRun) -> Loop:
    shutil.copytree(DATA, tmp_path / "in")
    return Loop(tmp_path / "in", tmp_path / "out", first_run)


def about(account: str, attribute: str | None = None) -> Callable[[Event], bool]:
    """An event of ``account`` (a drift event on ``attribute``, or its account event)."""

    def pick(e: Event) -> bool:
        if (e["object"]["key"] or (e["object"].get("member_of") or {}).get("key")) != account:
            return False
        attributes = {f["attribute"] for f in e.get("findings", [])}
        return attribute in attributes

    return pick


def proposed(plan: dict[str, Any], account: str, attribute: str | None = None) -> list[Event]:
    return [e for e in plan["events"] if about(account, attribute)(e)]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recondiff", *args], capture_output=True, text=True, cwd=ROOT,
        check=False,
    )


# --- the same finding is not proposed again ----------------------------------------------


def test_every_event_carries_its_finding_keys(loop: Loop) -> None:
    plan = loop.run()
    keys = [f["key"] for e in plan["events"] for f in e["findings"]]
    assert keys and all(k.startswith("fd-") and len(k) == 35 for k in keys)
    assert len(set(keys)) == len(keys)
    (mail,) = proposed(plan, "bob", "mail")
    assert mail["findings"] == [{"attribute": "mail", "key": mail["findings"][0]["key"]}]
    (ghost,) = proposed(plan, "ghost")
    assert ghost["operation"] == "disable"
    assert ghost["findings"][0]["attribute"] is None
    # the next run finds the same findings under the same keys
    again = loop.run()
    assert [e["findings"] for e in again["events"]] == [e["findings"] for e in plan["events"]]
    assert plan["accepted"] == [] and again["accepted"] == []


def test_an_accepted_finding_is_not_proposed_next_run(loop: Loop) -> None:
    plan = loop.run()
    harvest = loop.decide(plan, about("bob", "mail"), comment="private address is fine")
    assert harvest == Harvest("exc-directory|repository", 1)
    plan2 = loop.run()
    assert proposed(plan2, "bob", "mail") == []
    # the account's other drift is still proposed, and the other accounts' findings
    assert len(proposed(plan2, "bob", "title")) == 1
    assert len(proposed(plan2, "ghost")) == 1
    assert len(proposed(plan2, "alice", "memberOf")) == 1
    (accepted,) = plan2["accepted"]
    assert accepted | {"id": "", "finding": ""} == {
        "id": "", "finding": "", "decision": "accepted", "by": "J. Smith",
        "reason": "private address is fine", "at": T0, "account": "bob",
        "identity_key": "1002", "situation": "linked", "attribute": "mail", "kind": "changed",
        "endpoint_value": "bob@private.example", "repository_value": "bob@example.org",
    }
    assert accepted["finding"] == proposed(plan, "bob", "mail")[0]["findings"][0]["key"]
    summary = json.loads((loop.out / "summary.json").read_text("utf-8"))
    assert summary["plan"]["accepted"] == 1
    # and a third run still recognises it
    assert proposed(loop.run(), "bob", "mail") == []


def test_a_rejected_proposal_is_remembered(loop: Loop) -> None:
    plan = loop.run()
    loop.decide(plan, about("ghost"), "rejected", comment="service account, keep it")
    plan2 = loop.run()
    assert proposed(plan2, "ghost") == []
    (accepted,) = plan2["accepted"]
    assert (accepted["decision"], accepted["account"], accepted["situation"]) == (
        "rejected", "ghost", "unmatched",
    )
    assert "attribute" not in accepted


def test_the_report_and_plan_show_list_what_is_accepted(loop: Loop) -> None:
    plan = loop.run()
    loop.decide(plan, about("bob", "mail"), until="2099-01-01T00:00:00+00:00",
                comment="board decision 42")
    loop.run()
    report = json.loads((loop.out / "report.json").read_text("utf-8"))
    assert [(a["account"], a["by"], a["reason"], a["until"]) for a in report["accepted"]] == [
        ("bob", "J. Smith", "board decision 42", "2099-01-01T00:00:00+00:00")
    ]
    html = (loop.out / "report.html").read_text("utf-8")
    assert "Accepted (1)" in html and "board decision 42" in html
    assert "2099-01-01T00:00:00+00:00" in html
    plan_file = next(p for p in (loop.out / "plan.jsonl", loop.out / "plan.json") if p.exists())
    shown = cli("plan", "show", str(plan_file))
    assert shown.returncode == 0, shown.stderr
    section = shown.stdout.split("accepted (1)\n", 1)[1].split("\n\n", 1)[0]
    assert "bob" in section and "J. Smith" in section and "board decision 42" in section
    assert "until 2099-01-01T00:00:00+00:00" in section
    as_json = json.loads(cli("plan", "show", "--json", str(plan_file)).stdout)
    assert [a["account"] for a in as_json["accepted"]] == ["bob"]


# --- when it comes back ------------------------------------------------------------------


def test_another_value_is_a_new_finding(loop: Loop) -> None:
    plan = loop.run()
    loop.decide(plan, about("bob", "mail"))
    loop.edit("endpoint.csv", "bob", mail="bob@another.example")
    plan2 = loop.run()
    (mail,) = proposed(plan2, "bob", "mail")
    assert mail["reason"]["drift"][0]["endpoint_value"] == "bob@another.example"
    assert plan2["accepted"] == []


def test_the_same_value_spelled_otherwise_is_the_same_finding(loop: Loop) -> None:
    """mail compares casefold_trim: the values are normalised before they are keyed."""
    plan = loop.run()
    loop.decide(plan, about("bob", "mail"))
    loop.edit("endpoint.csv", "bob", mail=" BOB@Private.Example ")
    plan2 = loop.run()
    assert proposed(plan2, "bob", "mail") == []
    assert len(plan2["accepted"]) == 1


def test_an_expired_exception_proposes_the_finding_again(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = loop.run()
    loop.decide(plan, about("bob", "mail"), until="2027-01-01T00:00:00+00:00")
    monkeypatch.setenv("RECONDIFF_NOW", "2026-12-31T23:59:59Z")
    plan2 = loop.run()
    assert proposed(plan2, "bob", "mail") == []
    assert plan2["accepted"][0]["until"] == "2027-01-01T00:00:00+00:00"
    monkeypatch.setenv("RECONDIFF_NOW", "2027-01-01T00:00:00Z")  # until is not after now
    plan3 = loop.run()
    assert len(proposed(plan3, "bob", "mail")) == 1
    assert plan3["accepted"] == []
    monkeypatch.setenv("RECONDIFF_NOW", "2027-02-01T00:00:00Z")
    assert len(proposed(loop.run(), "bob", "mail")) == 1


def test_a_bad_clock_is_one_line(loop: Loop, monkeypatch: pytest.MonkeyPatch) -> None:
    loop.run()
    monkeypatch.setenv("RECONDIFF_NOW", "tomorrow")
    done = cli("exceptions", "list", str(loop.out))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "RECONDIFF_NOW" in done.stderr


def test_a_revoked_exception_proposes_the_finding_again(loop: Loop) -> None:
    plan = loop.run()
    loop.decide(plan, about("bob", "mail"))
    (exc,) = loop.history.exceptions(_now())
    done = cli("exceptions", "revoke", exc["id"], str(loop.out), "--by", "A. Auditor",
               "--reason", "policy changed")
    assert done.returncode == 0, done.stderr
    plan2 = loop.run()
    assert len(proposed(plan2, "bob", "mail")) == 1
    assert plan2["accepted"] == []
    # recorded, never deleted
    (kept,) = loop.history.exceptions(_now(), everything=True)
    assert (kept["state"], kept["revoked_by"], kept["revoke_reason"]) == (
        "revoked", "A. Auditor", "policy changed",
    )
    assert loop.history.exceptions(_now()) == []


def test_another_configs_exceptions_do_not_apply(loop: Loop) -> None:
    plan = loop.run()
    loop.decide(plan, about("bob", "mail"))
    other = loop.inputs / "other.toml"
    other.write_text(
        loop.config.read_text("utf-8").replace('name = "exc-directory"', 'name = "other"'),
        "utf-8",
    )
    plan2 = loop.run(other)
    assert len(proposed(plan2, "bob", "mail")) == 1
    assert plan2["accepted"] == []
    # the first config still has it
    assert proposed(loop.run(), "bob", "mail") == []


# --- recording -------------------------------------------------------------------------


def test_recording_a_ledger_twice_adds_nothing(loop: Loop) -> None:
    plan = loop.run()
    assert loop.decide(plan, about("bob", "mail")).added == 1
    assert loop.decide(plan, about("bob", "mail")).added == 0
    assert len(loop.history.exceptions(_now(), everything=True)) == 1
    # another ledger line deciding it again is another exception (the same finding)
    assert loop.decide(plan, about("bob", "mail"), seq=2).added == 1


def test_only_the_last_decision_of_an_event_counts(loop: Loop) -> None:
    plan = loop.run()
    (event,) = proposed(plan, "bob", "mail")
    rejected = {"seq": 1, "decision": "rejected", "by": "A", "comment": None, "at": T0,
                "until": None}
    approved = rejected | {"seq": 2, "decision": "approved"}
    harvest = loop.history.record_exceptions(plan["digest"], [(event, approved),
                                                               (event, rejected)])
    assert harvest.added == 0
    assert len(proposed(loop.run(), "bob", "mail")) == 1


def test_approvals_and_assignments_are_not_exceptions(loop: Loop) -> None:
    plan = loop.run()
    assert loop.decide(plan, about("bob", "mail"), "approved").added == 0
    assert loop.decide(plan, about("ghost"), "assigned", seq=2).added == 0
    assert loop.history.exceptions(_now(), everything=True) == []


def test_a_plan_no_run_of_this_history_wrote_records_nothing(loop: Loop) -> None:
    """The config an exception binds to comes from the history's run that wrote the
    plan, never from the plan: a plan re-sealed by hand names a digest no run has."""
    plan = loop.run()
    forged = plan | {"digest": "sha256:" + "0" * 64}
    assert loop.decide(forged, about("bob", "mail")) == Harvest(None, 0)
    assert loop.history.exceptions(_now(), everything=True) == []


# --- the command -----------------------------------------------------------------------


def test_exceptions_list_and_revoke(loop: Loop) -> None:
    plan = loop.run()
    loop.decide(plan, about("bob", "mail"), until="2099-01-01T00:00:00+00:00")
    loop.decide(plan, about("ghost"), "rejected", seq=2, comment=None)
    listed = cli("exceptions", "list", "--state", str(loop.out), "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert sorted((r["account"], r["decision"], r["state"]) for r in rows) == [
        ("bob", "accepted", "active"), ("ghost", "rejected", "active"),
    ]
    bob = next(r for r in rows if r["account"] == "bob")
    assert bob["until"] == "2099-01-01T00:00:00+00:00" and bob["attribute"] == "mail"
    assert bob["shown"]["endpoint_value"] == "bob@private.example"
    text = cli("exceptions", "list", str(loop.out))
    assert text.returncode == 0 and text.stdout.splitlines()[0].startswith("id\tstate")
    assert len(text.stdout.splitlines()) == 3
    # revoke: unknown id, missing --by, twice
    unknown = cli("exceptions", "revoke", "ex-0000000000000000", str(loop.out), "--by", "X")
    assert unknown.returncode == 2 and "no such exception" in unknown.stderr
    assert cli("exceptions", "revoke", bob["id"], str(loop.out)).returncode == 2
    assert cli("exceptions", "revoke", bob["id"], str(loop.out), "--by", "X").returncode == 0
    twice = cli("exceptions", "revoke", bob["id"], str(loop.out), "--by", "X")
    assert twice.returncode == 2 and "already revoked" in twice.stderr
    assert len(twice.stderr.strip().splitlines()) == 1
    active = json.loads(cli("exceptions", "list", str(loop.out), "--json").stdout)
    assert [r["account"] for r in active] == ["ghost"]
    every = json.loads(cli("exceptions", "list", str(loop.out), "--json", "--all").stdout)
    assert sorted(r["state"] for r in every) == ["active", "revoked"]


def test_exceptions_without_a_history_is_one_line(tmp_path: Path) -> None:
    done = cli("exceptions", "list", str(tmp_path))
    assert done.returncode == 2
    assert "no run history here" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_a_long_accepted_value_is_cut_in_the_report(loop: Loop) -> None:
    long = "x" * 5000 + "@example.org"
    loop.edit("endpoint.csv", "bob", mail=long)
    plan = loop.run()
    loop.decide(plan, about("bob", "mail"))
    plan2 = loop.run()
    assert plan2["accepted"][0]["endpoint_value"] == long  # the plan keeps it whole
    report = json.loads((loop.out / "report.json").read_text("utf-8"))
    (row,) = report["accepted"]
    assert len(row["endpoint_value"]) < 400 and report["accepted_total"] == 1
    assert long not in (loop.out / "report.html").read_text("utf-8")
