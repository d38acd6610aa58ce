"""A new compare into the same OUTDIR replaces the plan: the old one moves to
OUTDIR/decided/PLAN_ID-DIGEST12/ with its decisions ledger and apply journal
(recondiff/engine/publish.py), so the new plan starts with no decision and the
record of the old one is kept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recondiff.compare import compare
from recondiff.errors import InputError
from recondiff.plan.file import read_header
from recondiff.plan.ledger import ledger_path, read
from recondiff.review import decide_file
from tests.conftest import SAMPLE, SampleRun, private_copy


def _pending(plan: Path) -> str:
    from recondiff.plan.file import iter_events

    return next(e["id"] for e in iter_events(plan) if e["approval"]["state"] == "pending")


def test_a_decided_plan_moves_to_decided_with_its_ledger(sample_run: SampleRun, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for name in ("plan.jsonl",):
        (out / name).write_bytes((sample_run.out / name).read_bytes())
    plan = out / "plan.jsonl"
    old = read_header(plan)
    decide_file(plan, [_pending(plan)], "approved", "ann")
    ledger = ledger_path(plan).read_bytes()

    compare(SAMPLE / "recondiff.toml", out)

    archived = out / "decided" / f"{old['plan_id']}-{old['digest'][7:19]}"
    assert sorted(p.name for p in archived.iterdir()) == ["plan.decisions.jsonl", "plan.jsonl"]
    assert (archived / "plan.decisions.jsonl").read_bytes() == ledger
    assert len(read(archived / "plan.jsonl", read_header(archived / "plan.jsonl"))) == 1
    # the new plan has no decision, and deciding on it works
    new = read_header(plan)
    assert new["digest"] != old["digest"] and not ledger_path(plan).exists()
    assert decide_file(plan, [_pending(plan)], "rejected", "bob")


def test_an_undecided_plan_is_simply_replaced(sample_run: SampleRun, tmp_path: Path) -> None:
    out = private_copy(sample_run.out, tmp_path)  # a first compare of the sample, as it left out
    compare(SAMPLE / "recondiff.toml", out)
    assert not (out / "decided").exists()


def test_a_planted_decided_link_is_refused(sample_run: SampleRun, tmp_path: Path) -> None:
    out = private_copy(sample_run.out, tmp_path)  # a first compare of the sample, as it left out
    plan = out / "plan.jsonl"
    decide_file(plan, [_pending(plan)], "approved", "ann")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, out / "decided")
    with pytest.raises(InputError, match="decided: not a directory recondiff made"):
        compare(SAMPLE / "recondiff.toml", out)
    assert list(elsewhere.iterdir()) == []
    assert ledger_path(plan).exists()  # left where it was
