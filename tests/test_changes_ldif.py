"""`plan ldif`: the runnable events as an RFC 2849 change file, loaded by the real ldapmodify."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from recondiff.errors import InputError
from recondiff.plan.file import load_plan
from recondiff.plan.ldif_export import attribute_line, fold, needs_base64, plan_to_ldif
from tests.slapd import Slapd, ldap_server
from tests.test_apply import (
    ADMIN,
    ASMITH,
    BASE,
    BWONG,
    CDAVIS,
    JDOE,
    STAFF,
    VPN,
    change,
    delete,
    event,
    every_kind,
    membership,
    modify_title,
    write_plan,
)

__all__ = ["ldap_server"]


def test_base64_only_when_needed() -> None:
    assert not needs_base64("Engineer")
    assert not needs_base64("a: b <c> d:")
    for odd in (" lead", ":x", "<x", "trail ", "é", "a\nb", "a\rb", "a\0b"):
        assert needs_base64(odd), odd
    assert attribute_line("title", "Engineer") == "title: Engineer"
    assert attribute_line("title", "Zoë") == "title:: " + base64.b64encode("Zoë".encode()).decode()
    assert attribute_line("title", "") == "title:"


def test_long_lines_are_folded() -> None:
    line = "description: " + "x" * 200
    folded = fold(line)
    assert all(len(part) <= 76 for part in folded.split("\n"))
    assert folded.replace("\n ", "") == line


def test_record_shapes(tmp_path: Path) -> None:
    title = modify_title(JDOE, "Engineer", "Lead Engineer")
    gone = delete(CDAVIS)
    pending = modify_title(ASMITH, "Analyst", "x", state="pending")
    plan = load_plan(write_plan(tmp_path / "plan.jsonl", [title, gone, pending]))
    text = plan_to_ldif(plan, assertions=False)
    assert text.endswith(
        "version: 1\n"
        "\n"
        f"# {title['id']} modify (update_endpoint): situation linked\n"
        f"dn: {JDOE}\n"
        "changetype: modify\n"
        "delete: title\n"
        "title: Engineer\n"
        "-\n"
        "add: title\n"
        "title: Lead Engineer\n"
        "-\n"
        "\n"
        f"# {gone['id']} delete (update_endpoint): situation linked\n"
        f"dn: {CDAVIS}\n"
        "changetype: delete\n"
    )
    assert pending["id"] not in text
    with_control = plan_to_ldif(plan)
    assert "control: 1.3.6.1.1.12 true:: " in with_control


def test_ldapmodify_applies_it(ldap_server: Slapd, tmp_path: Path) -> None:
    odd = event("modify", BWONG, [change("replace", "description", " leading, trailing ", "Zoë")])
    plan = load_plan(write_plan(tmp_path / "plan.jsonl", [*every_kind(), odd]))
    ldap_server.modify(plan_to_ldif(plan))
    assert ldap_server.values(JDOE, "title") == ["Lead Engineer"]
    assert ldap_server.values(STAFF, "member") == [JDOE, ASMITH, BWONG]
    assert ldap_server.values(BWONG, "memberOf") == [STAFF]
    assert ASMITH not in ldap_server.values(VPN, "member")
    assert ldap_server.values(ASMITH, "memberOf") == [STAFF]
    assert ldap_server.entry(CDAVIS) is None
    assert ldap_server.values(ASMITH, "employeeType") == ["disabled"]
    assert ldap_server.values(BWONG, "pwdAccountLockedTime") == ["000001010000Z"]
    assert ldap_server.values(f"uid=eve,ou=people,{BASE}", "title") == ["New Hire"]
    assert ldap_server.values(BWONG, "description") == [" leading, trailing ", "Zoë"]


def test_ldapmodify_stops_at_a_stale_record(ldap_server: Slapd, tmp_path: Path) -> None:
    ldap_server.modify(f"dn: {JDOE}\nchangetype: modify\nreplace: title\ntitle: Manager\n-\n")
    plan = load_plan(write_plan(tmp_path / "plan.jsonl", [modify_title(JDOE, "Engineer", "Lead Engineer")]))
    with pytest.raises(RuntimeError, match=r"Assertion Failed \(122\)"):
        ldap_server.modify(plan_to_ldif(plan))
    assert ldap_server.values(JDOE, "title") == ["Manager"]


def test_refuses_events_apply_would_refuse(tmp_path: Path) -> None:
    no_dn = event("modify", None, [change("replace", "title", "x")], key="jdoe")
    plan = load_plan(write_plan(tmp_path / "plan.jsonl", [no_dn]))
    with pytest.raises(InputError, match=f"event {no_dn['id']} cannot be written as LDIF: the endpoint snapshot had no DN column"):
        plan_to_ldif(plan)
    protected = load_plan(write_plan(tmp_path / "p2.json", [membership("add", STAFF, ADMIN)]))
    with pytest.raises(InputError, match="administrator is a protected account"):
        plan_to_ldif(protected)


def test_the_advice_for_a_refused_event_is_one_the_operator_can_follow(tmp_path: Path) -> None:
    """A refused auto event cannot be rejected (plan reject refuses auto events):
    the advice names the config; an approved one can be rejected."""
    auto = membership("add", STAFF, ADMIN)
    plan = load_plan(write_plan(tmp_path / "auto.json", [auto]))
    with pytest.raises(InputError) as caught:
        plan_to_ldif(plan)
    assert str(caught.value).endswith(
        "it is approved by the config's policy ('auto'), so fix the config (for a protected "
        "account: its key in [endpoint] protected) and run compare again"
    )
    approved = membership("add", STAFF, ADMIN, state="approved")
    plan = load_plan(write_plan(tmp_path / "approved.json", [approved]))
    with pytest.raises(InputError, match=r"reject it \(recondiff plan reject --event ID\) to write the rest$"):
        plan_to_ldif(plan)
