"""`plan approve|reject` with selectors (issue 16, point 3; docs/plan.md "Selectors").

Every test copies the shared sample run's output to tmp_path first (never
writes into it) and drives the real CLI.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from recondiff.cli.main import cli
from recondiff.plan.file import load_plan
from recondiff.review.select import Selector, SelectorError, choose, select
from tests.conftest import SampleRun


@pytest.fixture
def plan_path(sample_run: SampleRun, tmp_path: Path) -> Path:
    shutil.copytree(sample_run.out, tmp_path / "out")
    return tmp_path / "out" / "plan.jsonl"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {result.exception!r}") from result.exception
    return result.exit_code, result.stdout, result.stderr


def events(path: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = load_plan(path)["events"]
    return found


def states(path: Path) -> dict[str, str]:
    return {e["id"]: e["approval"]["state"] for e in events(path)}


def pending_where(path: Path, test: Any) -> list[str]:
    return [e["id"] for e in events(path) if e["approval"]["state"] == "pending" and test(e)]


def approve(path: Path, *selector: str) -> tuple[int, str, str]:
    return run("plan", "approve", str(path), *selector, "--by", "J. Smith")


def keys(e: dict[str, Any]) -> set[str]:
    obj = e["object"]
    found = {obj.get("key"), (obj.get("member_of") or {}).get("key"), obj.get("identity_key")}
    return {k.lower() for k in found if k}


def check_decided(path: Path, before: dict[str, str], expected: list[str], state: str) -> None:
    after = states(path)
    assert expected
    for event_id, old in before.items():
        assert after[event_id] == (state if event_id in expected else old), event_id


# --- each option alone -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "test"),
    [
        ("--response", "review", lambda e: e["response"] == "review"),
        ("--situation", "unmatched", lambda e: e["reason"]["situation"] == "unmatched"),
        ("--operation", "add", lambda e: e["operation"] == "add"),
        ("--rule", "by-email", lambda e: e["reason"]["rule"] == "by-email"),
        ("--attribute", "mail", lambda e: {c["attribute"] for c in e["changes"]} == {"mail"}),
        ("--account", "svc-*", lambda e: any(k.startswith("svc-") for k in keys(e))),
    ],
)
def test_each_option_alone_decides_exactly_the_pending_events_of_its_kind(
    plan_path: Path, option: str, value: str, test: Any
) -> None:
    before = states(plan_path)
    expected = pending_where(plan_path, test)
    code, out, err = approve(plan_path, option, value)
    assert code == 0, err
    assert out.split() == expected
    assert f"hits {len(expected)} event" in err
    check_decided(plan_path, before, expected, "approved")


def test_reject_by_selector(plan_path: Path) -> None:
    before = states(plan_path)
    expected = pending_where(plan_path, lambda e: e["operation"] == "disable")
    code, out, err = run(
        "plan", "reject", str(plan_path), "--operation", "disable", "--by", "CAB", "--comment", "no"
    )
    assert code == 0, err
    assert out.split() == expected
    check_decided(plan_path, before, expected, "rejected")
    decided = [e for e in events(plan_path) if e["id"] in expected]
    assert {(e["approval"]["by"], e["approval"]["comment"]) for e in decided} == {("CAB", "no")}


# --- combinations, repeats, globs, case --------------------------------------------------------


def test_options_combine_with_and(plan_path: Path) -> None:
    def test(e: dict[str, Any]) -> bool:
        return e["reason"]["situation"] == "linked" and e["operation"] == "modify" and {
            c["attribute"] for c in e["changes"]
        } == {"mail"}

    before = states(plan_path)
    expected = pending_where(plan_path, test)
    code, out, err = approve(
        plan_path, "--situation", "linked", "--operation", "modify", "--attribute", "mail"
    )
    assert code == 0, err
    assert out.split() == expected
    check_decided(plan_path, before, expected, "approved")


def test_a_repeated_option_ors_its_values(plan_path: Path) -> None:
    before = states(plan_path)
    expected = pending_where(plan_path, lambda e: e["operation"] in ("add", "disable"))
    code, out, err = approve(plan_path, "--operation", "add", "--operation", "disable")
    assert code == 0, err
    assert out.split() == expected
    assert set(Counter(e["operation"] for e in events(plan_path) if e["id"] in expected)) == {
        "add",
        "disable",
    }
    check_decided(plan_path, before, expected, "approved")


def test_account_glob_matches_endpoint_key_member_or_identity_key_in_any_case(
    plan_path: Path,
) -> None:
    by_identity = pending_where(plan_path, lambda e: e["object"].get("identity_key") == "100163")
    assert by_identity, "the sample's missing identity 100163 has pending events"
    code, out, _ = approve(plan_path, "--account", "1001[6]3")
    assert code == 0 and out.split() == by_identity
    code, out, _ = approve(plan_path, "--account", "ADM-*", "--account", "Svc-scan")
    assert code == 0
    assert len(out.split()) == 2


def test_attribute_by_alias_and_any_case(plan_path: Path) -> None:
    # mail, not sn: the sample's only pending sn changes are in add events, which
    # set other attributes too and so are never selected by --attribute.
    expected = pending_where(plan_path, lambda e: {c["attribute"] for c in e["changes"]} == {"mail"})
    assert expected
    code, out, err = approve(plan_path, "--attribute", "RFC822Mailbox")
    assert code == 0, err
    assert out.split() == expected


def test_values_of_closed_vocabularies_are_case_insensitive(plan_path: Path) -> None:
    expected = pending_where(plan_path, lambda e: e["reason"]["situation"] == "unmatched")
    code, out, _ = approve(plan_path, "--situation", "Unmatched", "--response", "REVIEW")
    assert code == 0 and out.split() == expected


# --- what is printed -------------------------------------------------------------------------


def test_prints_hits_by_operation_and_response_and_what_it_skipped(plan_path: Path) -> None:
    code, _, _ = approve(plan_path, "--account", "svc-*")
    assert code == 0
    code, _, err = approve(plan_path, "--operation", "disable")
    assert code == 0
    lines = err.splitlines()
    assert lines[0] == "recondiff: selector --operation disable hits 2 events"
    assert lines[1] == "recondiff:   by operation: disable 2"
    assert lines[2] == "recondiff:   by response: review 2"
    assert lines[3] == "recondiff:   skipped 1 event already decided (approved 1)"
    assert lines[4] == "recondiff:   skipped 2 events decided automatically (auto)"
    assert lines[5].startswith("recondiff: approved 2 events in ")


def test_breakdown_counts_every_kind(plan_path: Path) -> None:
    hit = [e for e in events(plan_path) if e["approval"]["state"] == "pending"]
    code, _, err = approve(plan_path, "--account", "*")
    assert code == 0
    ops = Counter(e["operation"] for e in hit)
    line = next(x for x in err.splitlines() if "by operation:" in x)
    for op, n in ops.items():
        assert f"{op} {n}" in line
    # --account '*' is --all restricted to events that name an account
    assert f"hits {len([e for e in hit if keys(e)])} events" in err


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "typo", "valid"),
    [
        ("--response", "reveiw", "review"),
        ("--situation", "unmached", "unmatched"),
        ("--operation", "disabel", "disable"),
    ],
)
def test_a_typo_is_a_usage_error_listing_the_valid_values(
    plan_path: Path, option: str, typo: str, valid: str
) -> None:
    data = plan_path.read_bytes()
    code, out, err = approve(plan_path, option, typo)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1
    assert f"{option} '{typo}' is not one of:" in err and valid in err
    assert plan_path.read_bytes() == data


def test_a_selector_that_hits_nothing_is_exit_2_and_writes_nothing(plan_path: Path) -> None:
    data = plan_path.read_bytes()
    code, out, err = approve(plan_path, "--account", "nobody*", "--rule", "by-email")
    assert code == 2 and out == ""
    error = [x for x in err.splitlines() if "error:" in x]
    assert len(error) == 1
    assert "--account 'nobody*' --rule by-email hits no pending event" in error[0]
    assert plan_path.read_bytes() == data


def test_a_selector_whose_events_are_all_decided_hits_nothing(plan_path: Path) -> None:
    assert approve(plan_path, "--operation", "add")[0] == 0
    data = plan_path.read_bytes()
    code, _, err = approve(plan_path, "--operation", "add")
    assert code == 2
    assert "2 matching already decided or auto" in err
    assert plan_path.read_bytes() == data


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--event", "ev-0000000000000000", "--response", "review"), "give --event ID or a selector, not both"),
        (("--all", "--operation", "add"), "give --all or a selector, not both"),
        (("--all", "--event", "ev-0000000000000000"), "or --all, not both"),
        ((), "say which events"),
    ],
)
def test_event_all_and_selector_exclude_each_other(
    plan_path: Path, args: tuple[str, ...], words: str
) -> None:
    data = plan_path.read_bytes()
    code, out, err = approve(plan_path, *args)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and words in err
    assert plan_path.read_bytes() == data


def test_auto_and_decided_events_are_untouched(plan_path: Path) -> None:
    first = pending_where(plan_path, lambda e: e["reason"]["situation"] == "missing")[:1]
    assert run("plan", "reject", str(plan_path), "--event", first[0], "--by", "CAB")[0] == 0
    before = {e["id"]: e["approval"] for e in events(plan_path)}
    code, out, _ = approve(plan_path, "--situation", "missing")
    assert code == 0 and first[0] not in out.split()
    after = {e["id"]: e["approval"] for e in events(plan_path)}
    assert after[first[0]] == before[first[0]]
    for event_id, approval in before.items():
        if approval["state"] == "auto":
            assert after[event_id] == approval


def test_plan_show_afterwards(plan_path: Path) -> None:
    pending = len(pending_where(plan_path, lambda e: True))
    unmatched = len(pending_where(plan_path, lambda e: e["reason"]["situation"] == "unmatched"))
    assert approve(plan_path, "--situation", "unmatched")[0] == 0
    code, out, _ = run("plan", "show", str(plan_path))
    assert code == 0
    assert f"pending ({pending - unmatched})" in out
    approval_line = next(x for x in out.splitlines() if x.startswith("approval"))
    assert f"approved {unmatched}" in approval_line


# --- the pure function (for the ledger) ------------------------------------------------------


def test_select_is_pure_and_ignores_state(sample_run: SampleRun) -> None:
    plan = load_plan(sample_run.out / "plan.jsonl")
    selector = Selector.parse(operations=["disable"])
    hit = select(plan["events"], selector)
    assert {e["operation"] for e in hit} == {"disable"}
    assert {e["approval"]["state"] for e in hit} == {"pending", "auto"}
    selection = choose(plan["events"], selector)
    assert len(selection.pending) + selection.auto + sum(selection.decided.values()) == len(hit)
    assert selector.describe() == "--operation disable"
    assert Selector.parse().is_empty()
    with pytest.raises(SelectorError):
        Selector.parse(responses=["nope"])


def test_the_operations_a_selector_accepts_are_the_plan_schemas() -> None:
    """vocabulary.OPERATIONS (what --operation accepts) is the schema's enum."""
    from recondiff.plan.file import schema
    from recondiff.vocabulary import OPERATIONS

    enum = schema()["$defs"]["event"]["properties"]["operation"]["enum"]
    assert tuple(enum) == OPERATIONS
