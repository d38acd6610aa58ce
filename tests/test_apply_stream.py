"""apply reads a plan in two passes with flat memory (recondiff/plan/trust.py
VerifiedPlan): the first checks every line (schema, digest, signatures, the
mass-change counts), the second acts, each line held to the hash the first saw.
A file changed between the two is refused at its first changed line, before
that line acts (a time-of-check to time-of-use swap)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recondiff.errors import InputError
from recondiff.io.signing import Trust
from recondiff.plan import file as plan_file
from recondiff.plan.trust import VerifiedPlan
from tests.plans import save_with_decisions
from tests.test_apply import ASMITH, JDOE, make_plan, modify_title


def _plan(tmp_path: Path) -> Path:
    events = [
        modify_title(JDOE, "Engineer", "Lead Engineer", state="approved"),
        modify_title(ASMITH, "Analyst", "Lead Analyst", state="approved"),
    ]
    return save_with_decisions(make_plan(events), tmp_path / "plan.jsonl")


def test_the_second_pass_gives_what_the_first_checked(tmp_path: Path) -> None:
    source = VerifiedPlan(_plan(tmp_path), Trust(), allow_unsigned=True)
    first = list(source.scan())
    assert [e["approval"]["state"] for e in first] == ["approved", "approved"]
    assert list(source.events()) == first


def test_acting_before_the_scan_is_a_bug(tmp_path: Path) -> None:
    source = VerifiedPlan(_plan(tmp_path), Trust(), allow_unsigned=True)
    with pytest.raises(RuntimeError):
        next(source.events())


def test_a_plan_swapped_between_the_passes_is_refused_at_the_changed_line(
    tmp_path: Path,
) -> None:
    """The swap is a whole valid plan (re-sealed digest): only the pinned hashes see it."""
    path = _plan(tmp_path)
    source = VerifiedPlan(path, Trust(), allow_unsigned=True)
    list(source.scan())
    swapped = plan_file.load_plan(path, decisions=False)
    swapped["events"][1]["changes"][1]["values"] = ["CEO"]
    plan_file.save_plan(swapped, path)  # a new valid digest, same header otherwise
    events = source.events()
    with pytest.raises(InputError):
        # the header's digest changed: refused before the first event
        next(events)


def test_a_line_changed_in_place_between_the_passes_is_refused_before_it_acts(
    tmp_path: Path,
) -> None:
    path = _plan(tmp_path)
    source = VerifiedPlan(path, Trust(), allow_unsigned=True)
    list(source.scan())
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b"Lead Analyst", b"Lead Hacker!")  # same length, same header
    path.write_bytes(b"".join(lines))
    events = source.events()
    assert next(events)["object"]["dn"] == JDOE  # the unchanged first line still comes
    with pytest.raises(InputError, match="line 3 changed since the plan was checked"):
        next(events)
