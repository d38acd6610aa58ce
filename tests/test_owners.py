"""Owners chosen by a reviewer (issue 16 point 5) and delete-or-disable per
rejected new account (point 6): the plan's owner decisions and choices, the
checks on a choice, the feed, and the next run seeing the account linked.

The dataset and what compare must propose for it: tests/data/owners/
(endpoint.csv, repository.csv, recondiff.toml, expected.json).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from recondiff.compare import compare
from recondiff.errors import InputError
from recondiff.history import History, history_path
from recondiff.plan.choices import (
    action_choice,
    assignment,
    check_chosen_deletes,
    chosen,
    owner_choice,
)
from recondiff.plan.file import load_plan
from recondiff.review.feed import feed_rows
from tests.conftest import ROOT, read_only

DATA = ROOT / "tests" / "data" / "owners"
EXPECTED = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))
KEY = "owners-ldap|repository"  # config_key(endpoint name, repository name)
AT = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)


def _case(tmp_path: Path) -> Path:
    case = tmp_path / "case"
    if not case.exists():
        shutil.copytree(DATA, case)
    return case


def _compare(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    compare(_case(tmp_path) / "recondiff.toml", out, allow_shrink=True)
    return out


def _plan_path(out: Path) -> Path:
    jsonl = out / "plan.jsonl"
    return jsonl if jsonl.exists() else out / "plan.json"


def _events(out: Path) -> list[dict[str, Any]]:
    return list(load_plan(_plan_path(out))["events"])


def _owner_events(out: Path) -> dict[str, dict[str, Any]]:
    return {e["object"]["key"]: e for e in _events(out) if e["response"] == "assign_owner"}


def _situation(out: Path, key: str) -> tuple[str, str | None]:
    rows = duckdb.sql(
        "SELECT situation, identity_key FROM read_parquet($p) WHERE endpoint_key = $k",
        params={"p": str(out / "situations.parquet"), "k": key},
    ).fetchall()
    assert len(rows) == 1, rows
    return rows[0][0], rows[0][1]


def _edit(tmp_path: Path, name: str, old: str, new: str) -> None:
    path = _case(tmp_path) / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def _assign(out: Path, event: dict[str, Any], identity: str, seq: int = 1) -> None:
    """What the harvest of an ``assigned`` ledger line records (the next compare's)."""
    choice = owner_choice(event, identity)
    row = assignment(event, choice.identity, plan_digest="sha256:" + "0" * 64, seq=seq,
                     by="alice", at=AT, comment="owner confirmed by HR")
    History(history_path(out, None)).record_assignments(KEY, [row])


# --- the owner decisions compare proposes ---------------------------------------------


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The case compared once per module: its ``out``, read-only (beside it ``case``);
    a test that runs on or writes takes :func:`_first_compare`."""
    folder = tmp_path_factory.mktemp("owners")
    out = _compare(folder)
    with read_only(folder):
        yield out


def _first_compare(first_run: Path, tmp_path: Path) -> Path:
    """What ``_compare(tmp_path)`` leaves on the case as it is (``case`` and ``out``
    in tmp_path): a copy of the module's first run."""
    shutil.copytree(first_run.parent, tmp_path, dirs_exist_ok=True)
    return tmp_path / "out"


def test_owner_decisions_list_scored_candidates_best_first(first_run: Path) -> None:
    owners = _owner_events(first_run)
    assert sorted(owners) == sorted(EXPECTED["owner_events"])
    for key, want in EXPECTED["owner_events"].items():
        event = owners[key]
        assert event["target"] == "repository" and event["operation"] == "link"
        assert event["approval"]["state"] == "pending"
        assert event["reason"] == {"situation": want["situation"], "rule": want["rule"]}
        assert event["owner"]["candidates"] == want["candidates"], key
        assert event["owner"]["default_identity"] == want["default_identity"]
        # the link it writes names the account; the identity is the reviewer's to pick
        assert event["object"]["identity_key"] is None
        assert event["changes"] == [{"op": "replace", "attribute": "account", "values": [key]}]
        assert event["owner"]["uuid"].startswith("11111111-")


def test_a_rejected_new_account_offers_delete_and_disable(first_run: Path) -> None:
    for key, want in EXPECTED["reject_event"].items():
        (event,) = [e for e in _events(first_run)
                    if e["object"]["key"] == key and e["target"] == "endpoint"]
        assert (event["operation"], event["response"]) == (want["operation"], want["response"])
        assert sorted(event["choices"]) == want["choices"]
        assert event["choices"]["disable"]["changes"] == event["changes"]
        assert event["choices"]["disable"]["preconditions"] == event["preconditions"]
        assert event["choices"]["delete"]["changes"] == []
        # a delete asserts the entry is the one exported, as a planned delete does
        assert {"attribute": "entryUUID", "values": ["11111111-0000-0000-0000-000000000005"]} in (
            event["choices"]["delete"]["preconditions"])


def test_no_owner_decision_without_candidates_or_a_default_identity(tmp_path: Path) -> None:
    _edit(tmp_path, "recondiff.toml", 'default_identity = "svc-owner"', "")
    owners = _owner_events(_compare(tmp_path))
    assert "dave" not in owners  # unmatched, nothing matched, no default identity
    assert owners["bob"]["owner"]["default_identity"] is None


def test_a_default_identity_the_repository_lacks_is_not_offered(tmp_path: Path) -> None:
    _edit(tmp_path, "recondiff.toml", 'default_identity = "svc-owner"',
          'default_identity = "svc-ghost"')
    owners = _owner_events(_compare(tmp_path))
    assert "dave" not in owners
    assert owners["bob"]["owner"]["default_identity"] is None


# --- choosing -----------------------------------------------------------------------------


def test_an_owner_is_a_candidate_or_the_default(first_run: Path) -> None:
    bob = _owner_events(first_run)["bob"]
    assert owner_choice(bob, "3").source == "candidate"
    assert owner_choice(bob, " SVC-OWNER ").identity == "svc-owner"  # keys fold as compare's
    choice = owner_choice(bob, "2")
    assert choice.ledger() == {"decision": "assigned", "ids": [bob["id"]],
                               "selector": "--event", "identity": "2"}


def test_assigning_a_non_candidate_is_refused_without_the_flag(first_run: Path) -> None:
    bob = _owner_events(first_run)["bob"]
    with pytest.raises(InputError, match=r"1 is not a candidate of event .*offered: 2, 3, "
                                         r"default svc-owner.*--any-identity"):
        owner_choice(bob, "1")
    known = {"1": "1", "2": "2"}
    assert owner_choice(bob, "1", any_identity=True,
                        repository_key=known.get).source == "repository"


def test_an_identity_that_does_not_exist_is_never_assigned(first_run: Path) -> None:
    bob = _owner_events(first_run)["bob"]
    with pytest.raises(InputError, match="not an identity of the repository snapshot"):
        owner_choice(bob, "ghost", any_identity=True, repository_key={"1": "1"}.get)
    with pytest.raises(InputError, match="blank"):
        owner_choice(bob, "  ")


def test_only_an_owner_decision_takes_an_owner(first_run: Path) -> None:
    other = next(e for e in _events(first_run) if e["response"] != "assign_owner")
    with pytest.raises(InputError, match="not an owner decision"):
        owner_choice(other, "2")


def test_action_choice_is_offered_only_on_a_rejected_new_account(first_run: Path) -> None:
    events = _events(first_run)
    dave = next(e for e in events if e["object"]["key"] == "dave" and e["target"] == "endpoint")
    assert action_choice(dave, "delete") == {"action": "delete"}
    with pytest.raises(InputError, match="choose delete or disable"):
        action_choice(dave, "unlink")
    drift = next(e for e in events if e["operation"] == "modify")
    with pytest.raises(InputError, match="offers no choice"):
        action_choice(drift, "delete")


# --- the effect: the feed, the next run -------------------------------------------------


def test_the_feed_writes_the_link_of_an_assigned_owner(first_run: Path) -> None:
    plan = load_plan(_plan_path(first_run))
    bob = next(e for e in plan["events"]
               if e["response"] == "assign_owner" and e["object"]["key"] == "bob")
    rows, left_out = feed_rows(plan)
    assert not [r for r in rows if r["event_id"] == bob["id"]]  # not chosen: not fed
    assert left_out == 4  # the four owner decisions, pending
    bob["approval"] = {**bob["approval"], "state": "approved", "identity": "2"}
    rows, _ = feed_rows(plan)
    (row,) = [r for r in rows if r["event_id"] == bob["id"]]
    assert (row["identity_key"], row["endpoint_key"]) == ("2", "bob")
    assert (row["attribute"], row["op"], row["values"]) == ("account", "replace", ["bob"])
    assert row["approval"] == "assigned"
    bob["approval"]["state"] = "rejected"
    assert not [r for r in feed_rows(plan)[0] if r["event_id"] == bob["id"]]


def test_the_next_run_sees_an_assigned_account_linked(first_run: Path, tmp_path: Path) -> None:
    out = _first_compare(first_run, tmp_path)
    owners = _owner_events(out)
    _assign(out, owners["bob"], "2")
    _assign(out, owners["carol"], "svc-owner", seq=2)
    _assign(out, owners["erin"], "5", seq=3)
    _assign(out, owners["bob"], "2")  # harvested twice: one row
    out = _compare(tmp_path)
    assert _situation(out, "bob") == ("linked", "2")
    assert _situation(out, "carol") == ("linked", "svc-owner")
    # erin: identities 5 and 6 both link it in the repository; the repository wins
    assert _situation(out, "erin")[0] == "ambiguous"
    assert set(_owner_events(out)) == {"dave", "erin"}
    rows = duckdb.connect(str(history_path(out, None)), read_only=True).execute(
        "SELECT count(*) FROM assignments").fetchall()
    assert rows == [(3,)]


def test_a_repository_link_of_the_identity_wins_over_the_assignment(first_run: Path, tmp_path: Path) -> None:
    out = _first_compare(first_run, tmp_path)
    _assign(out, _owner_events(out)["bob"], "2")
    _edit(tmp_path, "repository.csv", "2,Bob Stone,bob@ex.org,Clerk,active,",
          "2,Bob Stone,bob@ex.org,Clerk,active,zed")
    out = _compare(tmp_path)
    assert _situation(out, "bob")[0] == "ambiguous"


def test_an_assignment_does_not_survive_the_account_recreated(first_run: Path, tmp_path: Path) -> None:
    """Deleted and re-created under the same name (another entryUUID): another
    person's account, not linked by the assignment made for the first."""
    out = _first_compare(first_run, tmp_path)
    _assign(out, _owner_events(out)["bob"], "2")
    _edit(tmp_path, "endpoint.csv", "11111111-0000-0000-0000-000000000002",
          "22222222-0000-0000-0000-000000000002")
    out = _compare(tmp_path)
    assert _situation(out, "bob")[0] == "ambiguous"


def test_an_assignment_of_a_deleted_account_links_nothing(first_run: Path, tmp_path: Path) -> None:
    """The account gone: its identity is not `missing` (nothing to re-create)."""
    out = _first_compare(first_run, tmp_path)
    _assign(out, _owner_events(out)["bob"], "2")
    _edit(tmp_path, "endpoint.csv",
          'bob,"uid=bob,ou=people,dc=ex",bob@ex.org,Bob Stone,Clerk,'
          "11111111-0000-0000-0000-000000000002\n", "")
    out = _compare(tmp_path)
    missing = duckdb.sql(
        "SELECT count(*) FROM read_parquet($p) WHERE situation = 'missing'",
        params={"p": str(out / "situations.parquet")},
    ).fetchall()
    assert missing == [(0,)]


def test_an_assignment_to_an_identity_gone_from_the_repository_links_nothing(
    first_run: Path, tmp_path: Path,
) -> None:
    out = _first_compare(first_run, tmp_path)
    _assign(out, _owner_events(out)["bob"], "2")
    _edit(tmp_path, "repository.csv", "2,Bob Stone,bob@ex.org,Clerk,active,\n", "")
    out = _compare(tmp_path)
    assert _situation(out, "bob")[0] == "correlated"  # by mail, to 3: the only one left


# --- delete or disable: what apply runs ---------------------------------------------------


def _decided(event: dict[str, Any], action: str | None) -> dict[str, Any]:
    return {**event, "approval": {**event["approval"], "state": "approved", "action": action}}


def test_the_chosen_action_is_what_runs(first_run: Path) -> None:
    dave = next(e for e in _events(first_run)
                if e["object"]["key"] == "dave" and e["target"] == "endpoint")
    as_planned = chosen(_decided(dave, None))
    assert as_planned["operation"] == "disable"
    deleted = chosen(_decided(dave, "delete"))
    assert (deleted["operation"], deleted["changes"]) == ("delete", [])
    assert deleted["preconditions"] == dave["choices"]["delete"]["preconditions"]
    assert deleted["id"] == dave["id"]


def test_choosing_delete_on_a_proposed_disable_needs_allow_delete(first_run: Path) -> None:
    dave = next(e for e in _events(first_run)
                if e["object"]["key"] == "dave" and e["target"] == "endpoint")
    events = [_decided(dave, "delete")]
    with pytest.raises(InputError, match=r"plan.jsonl?: 1 event\(s\) delete an account where "
                                         r"the plan proposed to disable it.*--allow-delete"):
        check_chosen_deletes(events, False, _plan_path(first_run))
    check_chosen_deletes(events, True, "plan")
    check_chosen_deletes([_decided(dave, "disable")], False, "plan")


def test_an_action_the_event_does_not_offer_is_refused(first_run: Path) -> None:
    """A ledger line naming an action the plan never offered (forged, or another
    plan's) does not turn a modify into a delete."""
    drift = next(e for e in _events(first_run) if e["operation"] == "modify")
    with pytest.raises(InputError, match="does not offer"):
        chosen(_decided(drift, "delete"))


def test_any_identity_reads_the_plans_repository_snapshot(first_run: Path, tmp_path: Path) -> None:
    """--any-identity: an identity of the repository snapshot the plan saw, spelt
    as the snapshot spells it; never one it lacks, nor from a changed snapshot."""
    from recondiff.review.owners import choose_owner

    out = _first_compare(first_run, tmp_path)
    plan = load_plan(_plan_path(out))
    bob = next(e for e in plan["events"]
               if e["response"] == "assign_owner" and e["object"]["key"] == "bob")
    config = _case(tmp_path) / "recondiff.toml"
    choice = choose_owner(bob, " SVC-Owner", plan, any_identity=True, config_path=config)
    assert (choice.identity, choice.source) == ("svc-owner", "default")
    choice = choose_owner(bob, "1", plan, any_identity=True, config_path=config)
    assert (choice.identity, choice.source) == ("1", "repository")
    with pytest.raises(InputError, match="not an identity of the repository snapshot"):
        choose_owner(bob, "ghost", plan, any_identity=True, config_path=config)
    _edit(tmp_path, "repository.csv", "Alice Ray", "Alice Roy")
    with pytest.raises(InputError, match=r"not the repository snapshot plan .* was made from"):
        choose_owner(bob, "1", plan, any_identity=True, config_path=config)


# --- the decisions sheet's owner column -------------------------------------------------


def test_the_sheet_shows_the_candidates_and_takes_the_owner(first_run: Path, tmp_path: Path) -> None:
    from recondiff.io import csvsafe
    from recondiff.review.sheet import export_decisions, read_owners

    out = _first_compare(first_run, tmp_path)
    plan_path = _plan_path(out)
    sheet = tmp_path / "decisions.csv"
    export_decisions(plan_path, sheet)
    table = csvsafe.read_csv(sheet, what="decisions sheet")
    rows = {r["endpoint_key"]: r for _, r in table.rows if r["response"] == "assign_owner"}
    assert rows["bob"]["owner_candidates"] == (
        "2 (score 7: by-mail; 3 agree) | 3 (score 5: by-mail; 1 agree) | default svc-owner")
    assert rows["dave"]["owner_candidates"] == "default svc-owner"
    assert rows["bob"]["owner"] == ""

    def write(edits: dict[str, dict[str, str]]) -> None:
        body = []
        for _, row in table.rows:
            row = {**row, **edits.get(row["event_id"], {})}
            body.append([row[c] for c in table.header])
        csvsafe.write_csv(sheet, tuple(table.header), body, what="the decisions sheet")

    plan = load_plan(plan_path)
    owners = {e["object"]["key"]: e["id"] for e in plan["events"]
              if e["response"] == "assign_owner"}
    write({owners["bob"]: {"owner": "3", "by": "alice"}, owners["dave"]: {"owner": "svc-owner"}})
    chosen_ = read_owners(plan, sheet, by="carol")
    assert [(o.choice.event_id, o.choice.identity, o.by) for o in chosen_] == [
        (owners["bob"], "3", "alice"), (owners["dave"], "svc-owner", "carol")]
    write({owners["bob"]: {"owner": "1", "by": "alice"}})
    with pytest.raises(InputError, match=r"decisions.csv: row \d+, column owner: 1 is not a "
                                         r"candidate"):
        read_owners(plan, sheet)
    write({owners["bob"]: {"owner": "2", "decision": "rejected", "by": "alice"}})
    with pytest.raises(InputError, match="also rejects"):
        read_owners(plan, sheet)
    write({owners["bob"]: {"owner": "2", "by": "alice\nbob"}})
    with pytest.raises(InputError, match="column by: the approver's name must be one line"):
        read_owners(plan, sheet)
    dave_disable = next(e["id"] for e in plan["events"]
                        if e["object"]["key"] == "dave" and e["target"] == "endpoint")
    write({dave_disable: {"owner": "2", "by": "alice"}})
    with pytest.raises(InputError, match="not an owner decision"):
        read_owners(plan, sheet)


# --- end to end: plan assign, the feed, the harvest, the next run ---------------------------


def _harvest(out: Path) -> None:
    """What the next compare's harvest does with a plan's assigned lines."""
    from recondiff.plan import ledger
    from recondiff.plan.choices import assignments_of
    from recondiff.plan.file import iter_events, read_header

    path = _plan_path(out)
    header = read_header(path)
    rows = assignments_of(header, ledger.read(path, header), iter_events(path, header))
    History(history_path(out, None)).record_assignments(KEY, rows)


def test_plan_assign_feed_and_next_run(first_run: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from recondiff.cli.main import cli
    from recondiff.review.feed import write_feed

    out = _first_compare(first_run, tmp_path)
    plan = _plan_path(out)
    bob = _owner_events(out)["bob"]
    runner = CliRunner()
    refused = runner.invoke(cli, ["plan", "assign", str(plan), "--event", bob["id"],
                                  "--identity", "1", "--by", "alice"])
    assert refused.exit_code == 2
    assert "1 is not a candidate" in refused.stderr and "--any-identity" in refused.stderr
    ghost = runner.invoke(cli, ["plan", "assign", str(plan), "--event", bob["id"], "--identity",
                                "ghost", "--any-identity", "--by", "alice",
                                "-c", str(_case(tmp_path) / "recondiff.toml")])
    assert ghost.exit_code == 2 and "not an identity of the repository" in ghost.stderr
    done = runner.invoke(cli, ["plan", "assign", str(plan), "--event", bob["id"],
                               "--identity", "2", "--by", "alice", "--comment", "HR ticket 12"])
    assert done.exit_code == 0, done.stderr
    assert done.stdout == bob["id"] + "\n"
    assert "assigned 2 (candidate) as the owner of bob" in done.stderr
    decided = next(e for e in load_plan(plan)["events"] if e["id"] == bob["id"])
    assert decided["approval"]["state"] == "approved"
    assert decided["approval"]["identity"] == "2"
    feed = write_feed(plan, tmp_path / "feed", allow_unsigned=True)
    rows = [json.loads(line) for line in feed.jsonl_path.read_text("utf-8").splitlines()]
    assert [(r["identity_key"], r["endpoint_key"], r["attribute"], r["values"], r["approval"])
            for r in rows if r["event_id"] == bob["id"]] == [
        ("2", "bob", "account", ["bob"], "assigned")]
    _harvest(out)
    out = _compare(tmp_path)
    assert _situation(out, "bob") == ("linked", "2")


def test_plan_show_lists_the_candidates_and_the_choice(first_run: Path) -> None:
    from recondiff.review.summary import describe, reason_line

    events = _events(first_run)
    bob = _owner_events(first_run)["bob"]
    assert reason_line(bob) == (
        "ambiguous via by-mail, assign_owner: candidates 2 (7), 3 (5), default svc-owner")
    assert describe(bob) == 'link the owner to choose of account bob: replace account "bob"'
    dave = next(e for e in events if e["object"]["key"] == "dave" and e["target"] == "endpoint")
    assert reason_line(dave) == "unmatched, review (--action delete or disable)"
