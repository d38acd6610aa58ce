"""Delete or disable per rejected new account (issue 16 point 6), against a real
slapd (tests/slapd.py): the ledger's ``action`` picks the operation apply runs,
with the same preconditions and guards; a delete chosen where the plan proposed
a disable needs ``--allow-delete``. Plans are hand-made as in tests/test_apply.py
(the events carry ``choices`` as queries/plan/events.sql writes them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from recondiff.cli.main import cli
from recondiff.errors import InputError
from recondiff.plan import ledger
from recondiff.plan.checks import SafetyError
from recondiff.plan.file import load_plan, read_header
from recondiff.plan.ldif_export import plan_to_ldif
from tests.plans import apply_unsigned as apply_plan
from tests.slapd import Slapd, ldap_server
from tests.test_apply import ASMITH, BWONG, CDAVIS, change, event, pre, target, write_plan

__all__ = ["ldap_server"]

_DISABLE = [change("delete", "employeeType", "active"), change("add", "employeeType", "disabled")]


def rejected_new_account(dn: str, default: str) -> dict[str, Any]:
    """A rejected unmatched account as compare plans it: its default operation
    (``new_account_rejected_action``) and both choices."""
    key = dn.split(",")[0].split("=")[1]
    account_pre = [pre("uid", key), pre("employeeType", "active")]
    choices = {
        "delete": {"changes": [], "preconditions": account_pre},
        "disable": {"changes": _DISABLE, "preconditions": account_pre},
    }
    ev = event(default, dn, choices[default]["changes"], account_pre, state="pending",
               response="review", situation="unmatched")
    return ev | {"choices": choices}


def _plan(tmp_path: Path, *events: dict[str, Any]) -> Path:
    return write_plan(tmp_path / "plan.jsonl", list(events))


def _approve(plan: Path, ev: dict[str, Any], action: str | None) -> None:
    """As ``plan approve --event ID --action ACTION`` records it."""
    entry = ledger.Entry("approved", [ev["id"]], "cab", "--event", action=action)
    ledger.append(plan, read_header(plan), entry)


def test_each_account_runs_the_operation_its_reviewer_chose(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    disable_proposed = rejected_new_account(ASMITH, "disable")
    delete_proposed = rejected_new_account(BWONG, "delete")
    as_proposed = rejected_new_account(CDAVIS, "disable")
    plan = _plan(tmp_path, disable_proposed, delete_proposed, as_proposed)
    _approve(plan, disable_proposed, "delete")
    _approve(plan, delete_proposed, "disable")
    _approve(plan, as_proposed, None)
    result = apply_plan(plan, target(ldap_server), allow_delete=True)
    assert [o.outcome for o in result.outcomes] == ["applied"] * 3, result.outcomes
    assert ldap_server.entry(ASMITH) is None
    assert ldap_server.values(BWONG, "employeeType") == ["disabled"]
    assert ldap_server.values(CDAVIS, "employeeType") == ["disabled"]


def test_choosing_delete_on_a_proposed_disable_needs_allow_delete(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """A careless (or forged) choice cannot delete what the config said to disable
    unless whoever runs apply says so; nothing is sent before."""
    ev = rejected_new_account(ASMITH, "disable")
    plan = _plan(tmp_path, ev)
    _approve(plan, ev, "delete")
    with pytest.raises(InputError, match=r"1 event\(s\) delete an account where the plan "
                                         r"proposed to disable it.*--allow-delete"):
        apply_plan(plan, target(ldap_server))
    assert ldap_server.values(ASMITH, "employeeType") == ["active"]
    with pytest.raises(InputError, match="--allow-delete"):
        plan_to_ldif(load_plan(plan))
    assert "changetype: delete" in plan_to_ldif(load_plan(plan), allow_delete=True)


def test_the_mass_change_guard_counts_what_runs(ldap_server: Slapd, tmp_path: Path) -> None:
    """Chosen deletes count under max_deletes as the disables they replace did."""
    events = [rejected_new_account(dn, "disable") for dn in (ASMITH, BWONG, CDAVIS)]
    plan = write_plan(tmp_path / "plan.jsonl", events, max_deletes=2, max_delete_percent=100)
    for ev in events:
        _approve(plan, ev, "delete")
    with pytest.raises(SafetyError, match="deletes or disables 3 accounts"):
        apply_plan(plan, target(ldap_server), allow_delete=True)
    assert ldap_server.entry(ASMITH) is not None


def test_a_chosen_delete_keeps_the_preconditions(ldap_server: Slapd, tmp_path: Path) -> None:
    """The account changed since the export: the chosen delete is stale, never forced."""
    ev = rejected_new_account(ASMITH, "disable")
    plan = _plan(tmp_path, ev)
    _approve(plan, ev, "delete")
    ldap_server.modify(f"dn: {ASMITH}\nchangetype: modify\nreplace: employeeType\n"
                       "employeeType: contractor\n")
    result = apply_plan(plan, target(ldap_server), allow_delete=True)
    assert [o.outcome for o in result.outcomes] == ["stale"]
    assert ldap_server.entry(ASMITH) is not None


def test_plan_approve_action_on_the_command_line(ldap_server: Slapd, tmp_path: Path) -> None:
    ev = rejected_new_account(ASMITH, "disable")
    other = event("modify", BWONG, [change("add", "title", "x")], state="pending",
                  response="review")
    plan = _plan(tmp_path, ev, other)
    runner = CliRunner()
    refused = runner.invoke(cli, ["plan", "approve", str(plan), "--event", other["id"],
                                  "--action", "delete", "--by", "cab"])
    assert refused.exit_code == 2 and "offers no choice of action" in refused.stderr
    assert ledger.read(plan, read_header(plan)) == []
    done = runner.invoke(cli, ["plan", "approve", str(plan), "--event", ev["id"],
                               "--action", "delete", "--by", "cab"])
    assert done.exit_code == 0, done.stderr
    (line,) = ledger.read(plan, read_header(plan))
    assert (line.decision, line.action, line.ids) == ("approved", "delete", (ev["id"],))
    result = apply_plan(plan, target(ldap_server), allow_delete=True)
    assert [o.outcome for o in result.outcomes] == ["applied", "skipped"]
    assert ldap_server.entry(ASMITH) is None


def test_plan_ldif_allow_delete_on_the_command_line(tmp_path: Path) -> None:
    ev = rejected_new_account(ASMITH, "disable")
    plan = _plan(tmp_path, ev)
    _approve(plan, ev, "delete")
    runner = CliRunner()
    args = ["plan", "ldif", str(plan), "-o", str(tmp_path / "c.ldif"), "--allow-unsigned"]
    refused = runner.invoke(cli, args)
    assert refused.exit_code == 2 and "--allow-delete" in refused.stderr
    done = runner.invoke(cli, [*args, "--allow-delete"])
    assert done.exit_code == 0, done.stderr
    assert "changetype: delete" in (tmp_path / "c.ldif").read_text("utf-8")
