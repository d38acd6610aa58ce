"""Second reader of the apply split (recondiff/apply/execute.py -> apply/{runner,
transport,journal}.py, plan/{checks,assertions}.py): behaviour the split must
not have changed, tried as someone who writes the plan or the config.

Run against the code before the split (4403822, through its
recondiff.apply.execute), every test passed but those on attribute aliases (a
hole older than the split) and those on a name ending in a line break (which
that code let through).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ldap3.operation.search import compile_filter, parse_filter
from pyasn1.codec.ber import encoder

from recondiff.plan.assertions import assertion_control, assertion_filter
from recondiff.plan.checks import mass_counts, protected_names, refusal
from tests.plans import apply_unsigned as apply_plan
from tests.slapd import Slapd, ldap_server
from tests.test_apply import (
    ADMIN,
    ASMITH,
    BWONG,
    CDAVIS,
    JDOE,
    STAFF,
    VPN,
    change,
    delete,
    event,
    make_plan,
    membership,
    modify_title,
    pre,
    run_cli,
    target,
    write_config,
    write_plan,
)

__all__ = ["ldap_server"]

GUID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def _ldap3_ber(filter_text: str) -> bytes:
    tree = parse_filter(filter_text, None, True, False, None, False)
    return bytes(encoder.encode(compile_filter(tree.elements[0])))


# -- the hand-made BER of the assertion control ------------------------------------------


@pytest.mark.parametrize(
    "conditions",
    [
        [pre("title\n", "Engineer")],
        [pre("mail\n")],
        [pre("objectGUID\n", GUID)],
        [pre("title\n", "Engineer"), pre("mail;lang-en\n"), pre("2.5.4.3\n", "x" * 300)],
    ],
    ids=["equality", "absent", "guid", "several"],
)
def test_a_name_ending_in_a_newline_is_refused(
    conditions: list[dict[str, Any]],
) -> None:
    """The attribute check once ended in ``$``, which lets one trailing newline
    through: ldap3 stripped it from the filter's text, the hand encoder sent
    ``title\\n`` (an attribute no server has), and ``plan ldif`` wrote a blank
    line inside the record. A name with a line break is no attribute
    description: the event is refused, like any other malformed name."""
    plan = make_plan([])
    ev = event("modify", JDOE, [change("delete", "title", "Engineer")], conditions)
    assert "is not an LDAP attribute description" in (refusal(plan, ev, protected_names(plan)) or "")
    with pytest.raises(ValueError, match="is not an LDAP attribute description"):
        assertion_filter(conditions)


NAMES = st.from_regex(
    r"(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)(?:;[A-Za-z0-9-]+)*", fullmatch=True
)  # every name the attribute check accepts
CONDITIONS = st.lists(
    st.fixed_dictionaries(
        {
            "attribute": st.one_of(NAMES, st.just("objectGUID")),
            "values": st.lists(st.one_of(st.text(max_size=40), st.just(GUID)), max_size=3),
        }
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(CONDITIONS)
def test_control_is_ldap3s_for_every_name_the_check_accepts(
    conditions: list[dict[str, Any]],
) -> None:
    text = assertion_filter(conditions)
    assert text is not None
    assert assertion_control(conditions) == ("1.3.6.1.1.12", True, _ldap3_ber(text))


def test_a_precondition_named_with_a_newline_is_refused_on_the_server_too(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """End to end on slapd: the modify is refused, never sent; the entry keeps its title."""
    plan = write_plan(
        tmp_path / "plan.jsonl",
        [
            event(
                "modify",
                JDOE,
                [change("delete", "title", "Engineer"), change("add", "title", "Lead")],
                [pre("title\n", "Engineer")],
            )
        ],
    )
    result = apply_plan(plan, target(ldap_server))
    assert [o.outcome for o in result.outcomes] == ["failed"], result.outcomes
    assert "is not an LDAP attribute description" in (result.outcomes[0].message or "")
    assert ldap_server.values(JDOE, "title") == ["Engineer"]


# -- attribute names the guards compare: aliases, OIDs, options ---------------------------
# The guards look for uid, member, userAccountControl... by the name the plan
# writes. A server takes the same attribute under its other names: slapd
# applies ``userid`` (uid's alias), ``0.9.2342.19200300.100.1.1`` (uid's OID),
# ``uid;lang-en`` (a subtype: matched by (uid=...)) and ``2.5.4.31`` (member).


def _group_event(changes: list[dict[str, Any]]) -> dict[str, Any]:
    return event("modify", STAFF, changes, key="staff")


PROTECTED_NAMES = [
    change("add", "userid", "administrator"),
    change("add", "0.9.2342.19200300.100.1.1", "Administrator"),
    change("add", "uid;lang-en", "krbtgt"),
    change("add", "UID", "krbtgt"),
]


@pytest.mark.parametrize("written", PROTECTED_NAMES, ids=lambda c: c["attribute"])
def test_a_protected_name_under_another_name_of_uid_is_refused(written: dict[str, Any]) -> None:
    """A second ``uid: administrator`` on another entry is refused (NAME_ATTRIBUTES);
    so it is under uid's alias, its OID or with an option."""
    plan = make_plan([])
    ev = event("modify", JDOE, [written], key="jdoe")
    assert "is a protected account" in (refusal(plan, ev, protected_names(plan)) or "")


@pytest.mark.parametrize(
    "written",
    [change("replace", "2.5.4.31", ASMITH), change("delete", "member;x-any")],
    ids=["oid-replace", "option-delete-all"],
)
def test_a_whole_member_list_under_another_name_is_refused(written: dict[str, Any]) -> None:
    plan = make_plan([])
    why = refusal(plan, _group_event([written]), protected_names(plan)) or ""
    assert "replaces or empties the whole" in why


def test_a_protected_member_added_under_the_oid_of_member_is_refused() -> None:
    plan = make_plan([])
    ev = _group_event([change("add", "2.5.4.31", ADMIN)])
    assert "is a protected account" in (refusal(plan, ev, protected_names(plan)) or "")


def test_member_removals_and_disables_are_counted_under_any_name() -> None:
    members = [f"uid=u{i},ou=people,dc=example,dc=org" for i in range(40)]
    removals = _group_event([change("delete", "2.5.4.31", *members)])
    assert mass_counts(make_plan([removals]))["membership_removals"] == 40
    lock = event("modify", JDOE, [change("replace", "1.2.840.113556.1.4.8", "514")])
    assert mass_counts(make_plan([lock]))["deletes"] == 1


def test_aliases_do_not_reach_slapd(ldap_server: Slapd, tmp_path: Path) -> None:
    """End to end: none of these is sent; the entries are as they were."""
    events = [event("modify", JDOE, [c], key="jdoe") for c in PROTECTED_NAMES[:3]]
    events.append(_group_event([change("replace", "2.5.4.31", ASMITH)]))
    members = ldap_server.values(STAFF, "member")
    plan = write_plan(tmp_path / "plan.jsonl", events)
    result = apply_plan(plan, target(ldap_server))
    assert [o.outcome for o in result.outcomes] == ["failed"] * 4, result.outcomes
    assert ldap_server.values(JDOE, "uid") == ["jdoe"]
    assert ldap_server.values(STAFF, "member") == members


# -- the --allow-* flags, now one definition for apply and plan ldif ---------------------

OVER = {
    "max_deletes": ("--allow-mass-change", [delete(CDAVIS), delete(BWONG)]),
    "max_value_removals": (
        "--allow-value-removals",
        [
            event(
                "modify", JDOE, [change("delete", "title", "Engineer")], [pre("title", "Engineer")]
            ),
            event("modify", ASMITH, [change("delete", "mail", "a@x")], [pre("mail", "a@x")]),
        ],
    ),
    "max_membership_removals": (
        "--allow-membership-removals",
        [membership("delete", VPN, ASMITH), membership("delete", VPN, JDOE)],
    ),
    "max_modifies": (
        "--allow-modifies",
        [modify_title(JDOE, "Engineer", "A"), modify_title(ASMITH, "Analyst", "B")],
    ),
}
GUARD_FLAGS = [flag for flag, _ in OVER.values()]


@pytest.mark.parametrize("limit", list(OVER))
@pytest.mark.parametrize("command", ["ldif", "apply"])
def test_each_allow_flag_accepts_its_own_guard_only(
    tmp_path: Path, limit: str, command: str
) -> None:
    """Two events over a limit of 1: refused (exit 2, the line naming its flag),
    still refused with the flag at 1 or with the three other flags, accepted
    with the flag at 2 (plan ldif writes; apply gets past the checks to the
    connection, which fails: nothing listens there)."""
    flag, events = OVER[limit]
    config = write_config(tmp_path, f"{limit} = 1")
    plan = write_plan(tmp_path / "plan.jsonl", events, max_deletes=1000, max_delete_percent=100)
    if command == "ldif":
        base = ["plan", "ldif", str(plan), "-o", "-", "-c", str(config)]
    else:
        base = [
            "apply", str(plan), "--url", "ldap://127.0.0.1:1", "--bind-dn", "cn=x",
            "--password-env", "RD_PW", "--allow-plaintext", "-q", "-c", str(config),
        ]  # fmt: skip
    env = {"RD_PW": "secret"}
    others = [a for f in GUARD_FLAGS if f != flag for a in (f, "1000")]
    for extra in ([], [flag, "1"], others):
        code, out, err = run_cli(*base, *extra, env=env)
        assert (code, out) == (2, ""), (extra, err)
        assert f"then allow it with {flag} 2" in err and err.count("\n") == 1, err
    code, out, err = run_cli(*base, flag, "2", env=env)
    if command == "ldif":
        assert (code, err) == (0, ""), err
        assert out.count("changetype:") == 2
    else:
        assert "cannot connect" in err and "safety limits" not in err, err


# -- the control apply sends is the one plan ldif writes -----------------------------------


class _Recorder:
    """A transport that answers success and keeps the controls it was given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []

    def modify(self, dn: str, changes: Any, controls: Any, event_id: str) -> dict[str, Any]:
        self.sent.append(("modify", dn, controls))
        return {"result": 0}

    def delete(self, dn: str, controls: Any, event_id: str) -> dict[str, Any]:
        self.sent.append(("delete", dn, controls))
        return {"result": 0}

    def exists(self, dn: str, filter_text: str | None, event_id: str) -> bool:
        return True


def test_apply_sends_the_critical_control_plan_ldif_writes() -> None:
    import base64

    runner = pytest.importorskip("recondiff.apply.event")
    from recondiff.plan.ldif_export import event_record

    long = "é" * 200  # a long-form length
    events = [
        modify_title(JDOE, "Engineer", "Lead"),
        event("modify", JDOE, [change("replace", "title", "x")], [pre("title", long), pre("mail")]),
        delete(CDAVIS),
        membership("delete", VPN, ASMITH),  # no control: checked by the modify itself
    ]
    recorder = _Recorder()
    sender = runner.EventRunner(recorder, True, frozenset(), None, [])
    for ev in events:
        assert sender.send(ev).outcome == "applied"
    for ev, (_, dn, controls) in zip(events, recorder.sent, strict=True):
        assert dn == ev["object"]["dn"]
        lines = [line for line in event_record(ev) if line.startswith("control:")]
        if ev["object"].get("member_of"):
            assert controls is None and lines == []
            continue
        text = assertion_filter(ev["preconditions"])
        assert text is not None
        assert controls == [("1.3.6.1.1.12", True, _ldap3_ber(text))]
        record = "\n".join(event_record(ev)).replace("\n ", "")  # unfolded
        written = next(line for line in record.split("\n") if line.startswith("control: "))
        _, oid, critical, ber = written.split(" ", 3)
        assert (oid, critical) == ("1.3.6.1.1.12", "true::")
        assert base64.b64decode(ber) == _ldap3_ber(text)
