"""Second reader of the plan selectors (issue 16 point 3): a selector must not
decide more than it names. Each test failed on the code it was written against."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recondiff.review.select import Selector, matches
from tests.test_plan_select import approve, events, pending_where, plan_path, states

__all__ = ["plan_path"]  # the fixture, re-used


def _types(e: dict[str, Any]) -> set[str]:
    return {c["attribute"].lower() for c in e["changes"]}


def test_attribute_does_not_approve_an_add_that_also_sets_it(plan_path: Path) -> None:
    """`--attribute employeeID` (to approve employeeID corrections) approved the
    sample's two pending `add` events: new accounts in the directory, because
    their entry sets employeeID among eleven other attributes."""
    adds = pending_where(plan_path, lambda e: e["operation"] == "add")
    assert adds and all("employeeid" in _types(e) for e in events(plan_path) if e["id"] in adds)
    before = states(plan_path)
    code, out, err = approve(plan_path, "--attribute", "employeeID")
    assert code == 0, err
    decided = [e for e in events(plan_path) if e["id"] in out.split()]
    assert decided and all(_types(e) == {"employeeid"} for e in decided)
    assert {i: s for i, s in states(plan_path).items() if i in adds} == {
        i: before[i] for i in adds
    }


def test_attribute_decides_only_events_that_change_nothing_else(plan_path: Path) -> None:
    """`--attribute mail` approved an event that also rewrites proxyAddresses."""
    both = pending_where(plan_path, lambda e: _types(e) == {"mail", "proxyaddresses"})
    assert both
    code, out, err = approve(plan_path, "--attribute", "mail")
    assert code == 0, err
    assert not set(both) & set(out.split())
    code, out, err = approve(plan_path, "--attribute", "mail", "--attribute", "proxyAddresses")
    assert code == 0, err
    assert set(both) <= set(out.split())


def test_attribute_never_matches_an_event_without_changes() -> None:
    event = {"operation": "link", "response": "link", "changes": [], "object": {}, "reason": {}}
    assert not matches(event, Selector.parse(attributes=["mail"]))


def test_describe_is_one_printable_line_whatever_the_value() -> None:
    """The selector is printed before deciding (and meant for the ledger's one
    line): a newline or an escape sequence in a value must not reach it raw."""
    text = Selector.parse(accounts=["x\ny\x1b[31m"]).describe()
    assert text.isprintable()
    assert text == "--account $'x\\ny\\x1b[31m'"


def _keyed(key: str) -> dict[str, Any]:
    return {
        "operation": "modify", "response": "review", "reason": {},
        "changes": [{"attribute": "mail"}], "object": {"key": key},
    }


def test_account_case_folding_does_not_turn_a_lookalike_into_the_named_account() -> None:
    """'\\u212aadmin' (KELVIN SIGN) lower-cases to 'kadmin', so --account kadmin selected
    a crafted look-alike account that the directory keeps apart from kadmin."""
    assert not matches(_keyed("\u212aadmin"), Selector.parse(accounts=["kadmin"]))
    assert matches(_keyed("\u212aadmin"), Selector.parse(accounts=["*"]))
    assert matches(_keyed("KAdmin"), Selector.parse(accounts=["kadmin"]))
    assert matches(_keyed("\u00c9lodie"), Selector.parse(accounts=["\u00e9l*"]))
