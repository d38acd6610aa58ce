"""Second red team of decisions that persist and of owners (issue 16 points 4-6).

An insider who can write an output directory but holds no trusted key, and a
careless operator. Each test failed before its fix. Datasets:
tests/data/exceptions (README.md there) and tests/data/owners.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recondiff.compare import compare
from recondiff.history import History
from recondiff.plan import file, ledger
from tests.test_exceptions import DATA, proposed, read_plan


def _config(inputs: Path, name: str) -> Path:
    """The exceptions dataset's config under another endpoint name: another config."""
    text = (DATA / "recondiff.toml").read_text("utf-8")
    path = inputs / f"{name}.toml"
    path.write_text(text.replace('name = "exc-directory"', f'name = "{name}"'), "utf-8")
    return path


def test_a_plan_of_another_config_is_not_harvested(tmp_path: Path) -> None:
    """Two configs share one history (--state). A's plan copied into B's output
    directory with an unsigned `accepted` line must not be recorded by B's compare:
    B checks the ledger against B's [trust], not A's, so A's exceptions would come
    from a ledger A's trust never saw."""
    inputs = tmp_path / "in"
    shutil.copytree(DATA, inputs)
    state = tmp_path / "state"
    a, b = _config(inputs, "dir-a"), _config(inputs, "dir-b")
    compare(a, tmp_path / "out-a", state_dir=state)
    compare(b, tmp_path / "out-b", state_dir=state)
    plan_a = read_plan(tmp_path / "out-a")
    # the insider: A's plan (and a decision A's reviewers never made) in B's directory
    shutil.copy(tmp_path / "out-a" / "plan.jsonl", tmp_path / "out-b" / "plan.jsonl")
    (mail,) = proposed(plan_a, "bob", "mail")
    header = file.read_header(tmp_path / "out-b" / "plan.jsonl")
    ledger.append(tmp_path / "out-b" / "plan.jsonl", header,
                  ledger.Entry("accepted", [mail["id"]], by="mallory"))
    result = compare(b, tmp_path / "out-b", state_dir=state)
    history = History(state / "history.duckdb")
    assert history.exceptions(datetime.now(UTC), everything=True) == []
    assert any("another config" in w for w in result.warnings), result.warnings
    # and A's next run still proposes the finding
    compare(a, tmp_path / "out-a", state_dir=state)
    assert len(proposed(read_plan(tmp_path / "out-a"), "bob", "mail")) == 1


# --- owners -------------------------------------------------------------------------------


def test_an_assignment_the_repository_made_its_own_ends_with_it(tmp_path: Path) -> None:
    """An assignment counts "until the identity system's import makes it so". Once
    the repository itself links the pair, the assignment is settled: when the
    repository later drops that link (the owner left the account), an old
    reviewer choice must not re-link the account behind its back."""
    from tests.test_owners import _assign, _compare, _edit, _owner_events, _situation

    out = _compare(tmp_path)
    _assign(out, _owner_events(out)["bob"], "2")
    out = _compare(tmp_path)
    assert _situation(out, "bob") == ("linked", "2")  # by the assignment
    # the identity system imports the link: the repository's own now
    _edit(tmp_path, "repository.csv", "2,Bob Stone,bob@ex.org,Clerk,active,\n",
          "2,Bob Stone,bob@ex.org,Clerk,active,bob\n")
    out = _compare(tmp_path)
    assert _situation(out, "bob") == ("linked", "2")
    # then the repository drops it: bob is no one's for sure again
    _edit(tmp_path, "repository.csv", "2,Bob Stone,bob@ex.org,Clerk,active,bob\n",
          "2,Bob Stone,bob@ex.org,Clerk,active,\n")
    out = _compare(tmp_path)
    assert _situation(out, "bob")[0] == "ambiguous"


# --- a worse finding under the same key -----------------------------------------------------


def _lockable(inputs: Path, ghost_locked: str) -> Path:
    """The exceptions dataset deleting rejected new accounts, its endpoint with
    OpenLDAP's lock column (pwdAccountLockedTime: set, the account is disabled)."""
    config = inputs / "recondiff.toml"
    config.write_text(config.read_text("utf-8") + '\n[plan]\nnew_account_rejected_action = "delete"\n',
                      "utf-8")
    _set_lock(inputs, ghost_locked)
    return config


def _set_lock(inputs: Path, ghost_locked: str) -> None:
    path = inputs / "endpoint.csv"
    rows = path.read_text("utf-8").splitlines()
    if not rows[0].endswith(",pwdAccountLockedTime"):
        rows = [rows[0] + ",pwdAccountLockedTime", *(r + "," for r in rows[1:])]
    rows = [r.rsplit(",", 1)[0] + "," + ghost_locked if r.startswith("ghost,") else r
            for r in rows]
    path.write_text("\n".join(rows) + "\n", "utf-8")


def test_a_kept_disabled_account_enabled_again_is_proposed(tmp_path: Path) -> None:
    """The board keeps an orphan account because it is disabled (reject its delete,
    remembered). Someone enables it again: an active orphan account is a worse
    finding and must be proposed, not hidden under the old decision."""
    from tests.test_exceptions import Loop

    shutil.copytree(DATA, tmp_path / "in")
    config = _lockable(tmp_path / "in", "000001010000Z")
    loop = Loop(tmp_path / "in", tmp_path / "out")
    plan = loop.run(config)
    (ghost,) = proposed(plan, "ghost")
    assert ghost["operation"] == "delete" and ghost["choices"]["disable"] is None
    loop.decide(plan, lambda e: e["id"] == ghost["id"], "rejected",
                comment="disabled, kept for the audit")
    assert proposed(loop.run(config), "ghost") == []
    _set_lock(tmp_path / "in", "")  # enabled again
    (again,) = proposed(loop.run(config), "ghost")
    assert again["choices"]["disable"] is not None


def test_an_owner_decision_rejected_after_its_assignment_links_nothing(tmp_path: Path) -> None:
    """The reviewer assigns bob to 2, then thinks better of it and rejects the owner
    decision: the last decision on an event wins (the feed leaves it out), so the
    next compare must not harvest the overturned assignment."""
    from tests.test_owners import _compare, _owner_events, _situation

    out = _compare(tmp_path)
    bob = _owner_events(out)["bob"]
    path = out / "plan.jsonl"
    header = file.read_header(path)
    ledger.append(path, header, ledger.Entry("assigned", [bob["id"]], by="alice",
                                             identity="2", selector="--event"))
    ledger.append(path, header, ledger.Entry("rejected", [bob["id"]], by="alice",
                                             comment="not Bob Stone's after all"))
    out = _compare(tmp_path)
    assert _situation(out, "bob")[0] == "ambiguous"


# --- a careless hand edit ---------------------------------------------------------------------


def test_a_ledger_line_with_a_bad_time_is_a_warning_not_a_failed_compare(tmp_path: Path) -> None:
    """A hand-written decision whose `until` is no time (the chain re-sealed, no
    [trust]): its decisions are not recorded, with a warning, as for any ledger
    the harvest cannot take; compare itself must still run (it stopped with a line
    naming no file, every run, until someone found the ledger)."""
    from recondiff.io.canonical import canonical

    shutil.copytree(DATA, tmp_path / "in")
    config, out = tmp_path / "in" / "recondiff.toml", tmp_path / "out"
    compare(config, out)
    plan = read_plan(out)
    (mail,) = proposed(plan, "bob", "mail")
    line = {"seq": 1, "plan": plan["digest"], "prev": plan["digest"], "decision": "accepted",
            "ids": [mail["id"]], "selector": "--event", "by": "J. Smith", "comment": None,
            "at": "2026-12-07T09:00:00+00:00", "until": "next Friday", "identity": None,
            "action": None, "signature": None}
    (out / "plan.decisions.jsonl").write_bytes(canonical(line) + b"\n")
    result = compare(config, out)
    assert any("not recorded" in w and "until" in w for w in result.warnings), result.warnings
    assert len(proposed(read_plan(out), "bob", "mail")) == 1


def test_a_replaced_clock_is_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """RECONDIFF_NOW left set (a test's, a dry run's) keeps expired exceptions active
    for ever: a run under it says so."""
    shutil.copytree(DATA, tmp_path / "in")
    monkeypatch.setenv("RECONDIFF_NOW", "2026-01-01T00:00:00Z")
    result = compare(tmp_path / "in" / "recondiff.toml", tmp_path / "out")
    assert any("RECONDIFF_NOW=2026-01-01T00:00:00Z" in w for w in result.warnings)


def test_revoke_refuses_a_name_that_is_no_printable_line(tmp_path: Path) -> None:
    """`exceptions revoke --by` is recorded and quoted back ("already revoked (by
    ...)"): a terminal escape or a second line must be refused, as the ledger refuses it."""
    from recondiff.errors import InputError
    from tests.test_exceptions import Loop, about

    shutil.copytree(DATA, tmp_path / "in")
    loop = Loop(tmp_path / "in", tmp_path / "out")
    loop.decide(loop.run(), about("bob", "mail"))
    (row,) = loop.history.exceptions(datetime.now(UTC))
    for by in ("x\x1b[2Jy", "J. Smith\nauditor"):
        with pytest.raises(InputError, match="printable"):
            loop.history.revoke_exception(row["id"], by, None, datetime.now(UTC))
    with pytest.raises(InputError, match=r"\\x1b"):
        loop.history.revoke_exception("ex-\x1b[2J", "J. Smith", None, datetime.now(UTC))


def test_any_identity_never_picks_an_identity_outside_the_repository_scope(
    tmp_path: Path,
) -> None:
    """`plan assign --any-identity` chose among every identity of the snapshot, even
    one the config's [repository] scope leaves out (a leaver): the feed would link
    the account to it, though compare never sees that identity."""
    from recondiff.errors import InputError
    from recondiff.plan.file import load_plan
    from recondiff.review.owners import choose_owner
    from tests.test_owners import _case, _compare, _edit, _plan_path

    case = _case(tmp_path)
    _edit(tmp_path, "repository.csv", "svc-owner,Service Owner,,,active,\n",
          "svc-owner,Service Owner,,,active,\n9,Leaver,,,left,\n")
    config = case / "recondiff.toml"
    config.write_text(config.read_text("utf-8").replace(
        'status = "status"', "status = \"status\"\nscope = \"status = 'active'\""), "utf-8")
    out = _compare(tmp_path)
    plan = load_plan(_plan_path(out))
    bob = next(e for e in plan["events"]
               if e["response"] == "assign_owner" and e["object"]["key"] == "bob")
    assert choose_owner(bob, "1", plan, any_identity=True, config_path=config).identity == "1"
    with pytest.raises(InputError, match="not an identity of the repository"):
        choose_owner(bob, "9", plan, any_identity=True, config_path=config)
