"""An exception must never hide a different finding, and must not linger.

A careless operator or an attacker who knows what was accepted: the same values
on another account, under another attribute name of the same type, on the other
side; an accepted unmatched account that gains a group or is re-created; a
situation that changes; an exception that expired or was revoked. Each must be
proposed as usual. The dataset: tests/data/exceptions/README.md.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import SAMPLE
from tests.test_exceptions import Loop, about, first_run, loop, proposed

__all__ = ["first_run", "loop"]  # the fixtures, used by name


def _now() -> datetime:
    return datetime.now(UTC)


def test_the_same_values_on_another_account_are_proposed(loop: Loop) -> None:
    plan = loop.run()
    loop.decide(plan, about("bob", "mail"))
    loop.edit("endpoint.csv", "robert", entryUUID="0a1e0000-0000-4000-8000-000000000004",
              title="Engineer", mail="bob@private.example", **{"mail;lang-en": "x@example.org"},
              memberOf="cn=staff")
    loop.edit("repository.csv", "1004", account="robert", title="Engineer",
              mail="bob@example.org", mail_en="x@example.org", groups="cn=staff")
    plan2 = loop.run()
    assert len(proposed(plan2, "robert", "mail")) == 1
    assert proposed(plan2, "bob", "mail") == []
    assert [a["account"] for a in plan2["accepted"]] == ["bob"]


def test_another_attribute_name_of_the_same_type_is_proposed(loop: Loop) -> None:
    """mail and mail;lang-en are one attribute type: the same values under the
    other name are another finding."""
    plan = loop.run()
    loop.decide(plan, about("bob", "mail"))
    loop.edit("endpoint.csv", "bob", **{"mail;lang-en": "bob@private.example"})
    plan2 = loop.run()
    (event,) = proposed(plan2, "bob", "mail;lang-en")
    assert event["reason"]["drift"][0]["endpoint_value"] == "bob@private.example"
    assert proposed(plan2, "bob", "mail") == []


def test_the_values_swapped_between_the_sides_are_proposed(loop: Loop) -> None:
    plan = loop.run()
    loop.decide(plan, about("bob", "mail"))
    loop.edit("endpoint.csv", "bob", mail="bob@example.org")
    loop.edit("repository.csv", "1002", mail="bob@private.example")
    assert len(proposed(loop.run(), "bob", "mail")) == 1


def test_an_accepted_unmatched_account_that_gains_a_group_is_proposed(loop: Loop) -> None:
    plan = loop.run()
    loop.decide(plan, about("ghost"), comment="known service account")
    assert proposed(loop.run(), "ghost") == []
    loop.edit("endpoint.csv", "ghost", memberOf="cn=staff;cn=Domain Admins")
    plan3 = loop.run()
    (event,) = proposed(plan3, "ghost")
    assert event["operation"] == "disable"
    assert plan3["accepted"] == []


def test_an_accepted_unmatched_account_re_created_is_proposed(loop: Loop) -> None:
    """Deleted and re-created under the same key, with the same values: another entry."""
    plan = loop.run()
    loop.decide(plan, about("ghost"))
    loop.edit("endpoint.csv", "ghost", entryUUID="0a1e0000-0000-4000-8000-00000000dead")
    assert len(proposed(loop.run(), "ghost")) == 1


def test_a_look_alike_key_is_another_account(loop: Loop) -> None:
    """'kadmin' accepted; 'Kadmin' with U+212A KELVIN SIGN folds to the same key in
    matching, but an exception is about the account as spelled."""
    loop.edit("endpoint.csv", "kadmin", entryUUID="0a1e0000-0000-4000-8000-00000000000a",
              mail="kadmin@example.org", memberOf="cn=staff")
    plan = loop.run()
    loop.decide(plan, about("kadmin"))
    loop.drop("endpoint.csv", "kadmin")
    loop.edit("endpoint.csv", "\u212aadmin", entryUUID="0a1e0000-0000-4000-8000-00000000000a",
              mail="kadmin@example.org", memberOf="cn=staff")
    assert len(proposed(loop.run(), "\u212aadmin")) == 1


def test_a_set_value_accepted_does_not_hide_another_value(loop: Loop) -> None:
    plan = loop.run()
    loop.decide(plan, about("alice", "memberOf"), comment="vpn granted by ticket 7")
    loop.edit("endpoint.csv", "alice", memberOf="cn=staff;cn=vpn;cn=Domain Admins")
    plan2 = loop.run()
    (event,) = proposed(plan2, "alice", "memberOf")
    assert [d["endpoint_value"] for d in event["reason"]["drift"]] == ["cn=Domain Admins"]
    assert [(a["account"], a["endpoint_value"]) for a in plan2["accepted"]] == [
        ("alice", "cn=vpn")
    ]


def test_a_situation_that_changes_is_proposed(loop: Loop) -> None:
    """bob's mail drift accepted while linked; the repository drops the link: bob is
    unmatched now, and that is proposed (the drift exception covers nothing)."""
    plan = loop.run()
    loop.decide(plan, about("bob", "mail"))
    loop.edit("repository.csv", "1002", account="")
    plan2 = loop.run()
    (event,) = proposed(plan2, "bob")
    assert (event["reason"]["situation"], event["operation"]) == ("unmatched", "disable")
    assert plan2["accepted"] == []


def test_a_past_until_never_suppresses(loop: Loop) -> None:
    plan = loop.run()
    loop.decide(plan, about("bob", "mail"), until="2020-01-01T00:00:00+00:00")
    assert len(proposed(loop.run(), "bob", "mail")) == 1
    assert loop.history.exceptions(_now()) == []
    (row,) = loop.history.exceptions(_now(), everything=True)
    assert row["state"] == "expired"


def test_an_expired_exception_does_not_linger(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = loop.run()
    loop.decide(plan, about("bob", "mail"), until="2027-01-01T00:00:00+00:00")
    monkeypatch.setenv("RECONDIFF_NOW", "2027-06-01T00:00:00Z")
    plan2 = loop.run()
    assert len(proposed(plan2, "bob", "mail")) == 1 and plan2["accepted"] == []
    # still back in a later run, and decided again it is a new exception
    plan3 = loop.run()
    assert len(proposed(plan3, "bob", "mail")) == 1
    loop.decide(plan3, about("bob", "mail"), until="2028-01-01T00:00:00+00:00")
    plan4 = loop.run()
    assert proposed(plan4, "bob", "mail") == []
    assert plan4["accepted"][0]["until"] == "2028-01-01T00:00:00+00:00"


def test_a_revoked_exception_does_not_linger(loop: Loop) -> None:
    plan = loop.run()
    loop.decide(plan, about("bob", "mail"))
    loop.decide(plan, about("bob", "mail"), seq=2)  # decided twice: two exceptions
    for row in loop.history.exceptions(_now()):
        loop.history.revoke_exception(row["id"], "A. Auditor", None, _now())
    plan2 = loop.run()
    assert len(proposed(plan2, "bob", "mail")) == 1 and plan2["accepted"] == []
    assert [r["state"] for r in loop.history.exceptions(_now(), everything=True)] == [
        "revoked", "revoked",
    ]


def test_one_finding_of_an_event_changed_brings_only_it_back(loop: Loop) -> None:
    """An event of two findings (carol's mail and mail;lang-en, one modify to review)
    rejected: a change to one proposes that one only."""
    loop.edit("endpoint.csv", "carol", mail="c1@x.example", **{"mail;lang-en": "c2@x.example"})
    plan = loop.run()
    (carol,) = [e for e in plan["events"] if e["object"]["key"] == "carol"]
    assert [f["attribute"] for f in carol["findings"]] == ["mail", "mail;lang-en"]
    loop.decide(plan, lambda e: e is carol, "rejected")
    assert proposed(loop.run(), "carol", "mail") == []
    loop.edit("endpoint.csv", "carol", mail="c3@x.example")
    plan3 = loop.run()
    (event,) = [e for e in plan3["events"] if e["object"]["key"] == "carol"]
    assert [f["attribute"] for f in event["findings"]] == ["mail"]
    assert [a["attribute"] for a in plan3["accepted"]] == ["mail;lang-en"]


def test_a_new_accounts_group_rejected_does_not_hide_the_account(tmp_path: Path) -> None:
    """A membership event of an account the plan creates has no finding of its own:
    rejecting it (persistently) must not be recorded as a decision on the account,
    whose add event the next run proposes as before."""
    shutil.copytree(SAMPLE, tmp_path / "in")
    sample = Loop(tmp_path / "in", tmp_path / "out")
    plan = sample.run()
    members = [e for e in plan["events"] if e["reason"]["situation"] == "missing"
               and e["operation"] == "modify"]
    assert members and all(e["findings"] == [] for e in members)
    assert sample.decide(plan, lambda e: e is members[0], "rejected").added == 0
    plan2 = sample.run()
    adds = [e for e in plan2["events"] if e["operation"] == "add"]
    assert len(adds) == len([e for e in plan["events"] if e["operation"] == "add"])
    assert plan2["accepted"] == []
