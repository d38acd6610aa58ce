"""A second reader's attacks on `recondiff apply`'s journal, lock and the
order of events (issue 14 items 5, 6, 7, 14, 15), as an attacker with write
access to the output directory and as a careless operator would; against a
real slapd (tests/slapd.py), no mocks. Each test names the hole it covers.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from recondiff import review
from recondiff.apply.journal import Journal, JournalError, default_journal
from recondiff.apply.transport import LdapError, LdapTarget
from recondiff.plan.file import load_plan, read_header
from tests.conftest import ROOT
from tests.plans import apply_unsigned as apply_plan
from tests.slapd import Slapd, ldap_server
from tests.test_apply import (
    BWONG,
    JDOE,
    STAFF,
    VPN,
    add_person,
    change,
    event,
    membership,
    modify_title,
    target,
    write_config,
    write_plan,
)

__all__ = ["ldap_server"]

BASE_DN = "dc=example,dc=org"
EVE = f"uid=eve,ou=people,{BASE_DN}"


def _holder(plan: Path, journal: Path | None = None) -> Journal:
    """A first apply of ``plan``, stopped mid-run: lock taken, journal open."""
    loaded = load_plan(plan)
    holder = Journal(journal or default_journal(plan), loaded["plan_id"], loaded["digest"])
    holder.open()
    return holder


# -- item 7: the lock, reached under another name ------------------------------------------


def test_rj_a_symlink_to_the_journal_does_not_dodge_the_lock(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """Hole: the lock was `JOURNAL.lock` of the name given, so `--journal
    alias.jsonl` (a symbolic link to the journal in use) took `alias.jsonl.lock`
    and ran beside the first apply, on the same journal."""
    plan = write_plan(tmp_path / "plan.jsonl", [modify_title(JDOE, "Engineer", "Lead Engineer")])
    alias = tmp_path / "alias.jsonl"
    alias.symlink_to(default_journal(plan).name)
    holder = _holder(plan)
    try:
        with pytest.raises(JournalError):
            apply_plan(plan, target(ldap_server), journal_path=alias)
    finally:
        holder.close()
    assert ldap_server.values(JDOE, "title") == ["Engineer"]


def test_rj_a_hard_link_to_the_journal_does_not_race(ldap_server: Slapd, tmp_path: Path) -> None:
    """Hole: a hard link is the same journal under another name, with another
    lock file: the second apply appended to the journal the first was writing."""
    ev = modify_title(JDOE, "Engineer", "Lead Engineer", state="pending")
    plan = write_plan(tmp_path / "plan.jsonl", [ev])
    apply_plan(plan, target(ldap_server))  # the journal exists: `skipped`

    review.decide_file(plan, [ev["id"]], "approved", "cab")
    alias = tmp_path / "alias.jsonl"
    os.link(default_journal(plan), alias)
    holder = _holder(plan)
    try:
        with pytest.raises(JournalError, match="another recondiff apply is using this journal"):
            apply_plan(plan, target(ldap_server), journal_path=alias)
    finally:
        holder.close()
    assert ldap_server.values(JDOE, "title") == ["Engineer"]


def test_rj_relative_and_absolute_journal_paths_share_the_lock(
    ldap_server: Slapd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held: the same file by a relative and an absolute name has one lock."""
    plan = write_plan(tmp_path / "plan.jsonl", [modify_title(JDOE, "Engineer", "Lead Engineer")])
    (tmp_path / "sub").mkdir()
    holder = _holder(plan)
    try:
        monkeypatch.chdir(tmp_path / "sub")
        with pytest.raises(JournalError, match="another recondiff apply is using this journal"):
            apply_plan(plan, target(ldap_server), journal_path=Path("../plan.journal.jsonl"))
        with pytest.raises(JournalError, match="another recondiff apply is using this journal"):
            apply_plan(Path("../plan.jsonl"), target(ldap_server))
    finally:
        holder.close()
    assert ldap_server.values(JDOE, "title") == ["Engineer"]


def test_rj_a_lock_file_naming_a_live_reused_pid_does_not_lock(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """Held: the lock is the flock, not the pid in the file; a killed apply's
    lock file whose pid now belongs to another live process does not lock."""
    plan = write_plan(tmp_path / "plan.jsonl", [modify_title(JDOE, "Engineer", "Lead Engineer")])
    lock = Path(f"{default_journal(plan)}.lock")
    held = {"pid": os.getppid(), "user": "x", "host": "y", "since": "2026", "plan": "pl-x"}
    lock.write_text(json.dumps(held) + "\n", encoding="utf-8")
    result = apply_plan(plan, target(ldap_server))
    assert [o.outcome for o in result.outcomes] == ["applied"]
    assert not lock.exists()


# -- item 14: --journal never writes through a planted link -------------------------------


@pytest.mark.parametrize("victim_exists", [False, True], ids=["missing", "empty"])
def test_rj_a_journal_planted_as_a_symlink_is_not_written_through(
    ldap_server: Slapd, tmp_path: Path, victim_exists: bool
) -> None:
    """Hole: with write access to the output directory, an attacker planted
    `out/plan.journal.jsonl` as a link to a file of the operator's (a shell
    start-up file that does not exist yet, or an empty one); apply created or
    appended to it through the link, with directory data in its lines (a
    `$(...)` in a DN is run by a shell reading it). The lock file was already
    opened without following links; the journal was not."""
    out = tmp_path / "out"
    out.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    victim = home / ".profile"
    if victim_exists:
        victim.write_bytes(b"")
    plan = write_plan(out / "plan.jsonl", [modify_title(JDOE, "Engineer", "Lead Engineer")])
    default_journal(plan).symlink_to(victim)
    with pytest.raises(JournalError, match="symbolic link"):
        apply_plan(plan, target(ldap_server))
    assert victim.exists() == victim_exists
    if victim_exists:
        assert victim.read_bytes() == b""
    assert ldap_server.values(JDOE, "title") == ["Engineer"]
    assert not Path(f"{default_journal(plan)}.lock").exists()


def test_rj_a_deeply_nested_journal_line_is_one_clear_error(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """Hole: a line of nested brackets made json.loads raise RecursionError, a
    traceback instead of the one-line journal error."""
    plan = write_plan(tmp_path / "plan.jsonl", [modify_title(JDOE, "Engineer", "Lead Engineer")])
    journal = default_journal(plan)
    content = b"[" * 200_000 + b"\n"
    journal.write_bytes(content)
    with pytest.raises(JournalError) as caught:
        apply_plan(plan, target(ldap_server))
    assert str(caught.value).startswith(f"{journal}: line 1 is not a recondiff journal record")
    with pytest.raises(JournalError):
        apply_plan(plan, target(ldap_server), dry_run=True)
    assert journal.read_bytes() == content
    assert ldap_server.values(JDOE, "title") == ["Engineer"]


# -- item 5: the membership names the account another way -----------------------------------


SPELLINGS = {
    "case": "UID=BWong,OU=People,DC=Example,DC=Org",
    "escape": "uid=b\\77ong,ou=people,dc=example,dc=org",
    "spaces": "uid=bwong, ou=people, dc=example, dc=org",
    "oid": "0.9.2342.19200300.100.1.1=bwong,ou=people,dc=example,dc=org",
    "alias": "userid=bwong,ou=people,dc=example,dc=org",
}


@pytest.mark.parametrize("spelling", list(SPELLINGS), ids=list(SPELLINGS))
@pytest.mark.parametrize("dry_run", [False, True], ids=["real", "dry"])
def test_rj_a_stale_add_stops_memberships_that_spell_its_dn_another_way(
    ldap_server: Slapd, tmp_path: Path, spelling: str, dry_run: bool
) -> None:
    """Hole (all but case): the creation was matched by the DN's text, case
    folded; the server reads `uid=b\\77ong`, `uid=bwong, ou=...`, the OID and
    the alias as bwong, so bwong (someone else's entry) got the group."""
    stale_add = add_person("bwong")
    dn = SPELLINGS[spelling]
    into_vpn = membership("add", VPN, dn)
    plan = write_plan(tmp_path / "plan.jsonl", [stale_add, into_vpn])
    result = apply_plan(plan, target(ldap_server), dry_run=dry_run)
    stale = "would_be_stale" if dry_run else "stale"
    assert [o.outcome for o in result.outcomes] == [stale, stale], result.outcomes
    assert stale_add["id"] in result.outcomes[1].message
    assert BWONG not in ldap_server.values(VPN, "member")
    assert ldap_server.values(BWONG, "memberOf") == []


def test_rj_a_stale_add_stops_a_membership_whose_label_differs_from_what_it_sends(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """Hole: the wait looked at `member_of.dn` (the label), not at the member
    value the modify sends."""
    stale_add = add_person("bwong")
    into_vpn = event(
        "modify", VPN, [change("add", "member", BWONG)], [],
        key="vpn", member_of={"key": "someone", "dn": "uid=someone,ou=people,dc=example,dc=org"},
    )  # fmt: skip
    plan = write_plan(tmp_path / "plan.jsonl", [stale_add, into_vpn])
    result = apply_plan(plan, target(ldap_server))
    assert [o.outcome for o in result.outcomes] == ["stale", "stale"]
    assert BWONG not in ldap_server.values(VPN, "member")


# -- item 5 in a crash window ------------------------------------------------------------------


def test_rj_a_crash_before_sending_an_add_of_an_identical_existing_entry_still_stops_its_groups(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """Hole: a size-limited export made bwong look missing, so the plan's add
    carries exactly the values the existing entry has. The apply dies after
    journalling `started` (ten minutes after bwong was created), before sending
    (or after the server answered 68, before journalling it). On resume the
    entry "held the add's values": the add was recorded applied and bwong got
    the VPN group. Now the entry must also have been created since the add was
    started (createTimestamp, with a minute for clock skew)."""
    same = event(
        "add", BWONG,
        [change("add", "objectClass", "inetOrgPerson"), change("add", "uid", "bwong"),
         change("add", "cn", "Bo Wong"), change("add", "sn", "Wong")],
        [], response="add_to_endpoint", situation="missing",
    )  # fmt: skip
    into_vpn = membership("add", VPN, BWONG)
    plan = write_plan(tmp_path / "plan.jsonl", [same, into_vpn])
    written = read_header(plan)
    started = {
        "event": same["id"], "outcome": "started", "result": None, "message": "add",
        "at": (datetime.now(UTC) + timedelta(minutes=10)).isoformat(timespec="milliseconds"),
        "plan": written["plan_id"], "digest": written["digest"],
    }  # fmt: skip
    default_journal(plan).write_text(json.dumps(started) + "\n", encoding="utf-8")
    dry = apply_plan(plan, target(ldap_server), dry_run=True)
    assert [(o.outcome, o.result) for o in dry.outcomes] == [
        ("would_be_stale", 68),
        ("would_be_stale", None),
    ]
    result = apply_plan(plan, target(ldap_server))
    assert [(o.outcome, o.result) for o in result.outcomes] == [("stale", 68), ("stale", None)]
    assert BWONG not in ldap_server.values(VPN, "member")
    assert ldap_server.values(BWONG, "memberOf") == []


@pytest.mark.slow
def test_rj_kill_9_at_random_points_never_gives_a_stale_add_its_groups(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """Held: apply killed (SIGKILL) at random points of a plan with a stale
    add (an entry whose values differ), its memberships and a fresh add; the
    re-run records everything once and bwong never gets a group."""
    rng = random.Random(14)
    env = {**os.environ, "RD_PW": ldap_server.password, "PYTHONPATH": str(ROOT)}
    for round_ in range(5):  # 15 kills at random points (each round a fresh plan)
        eve = f"uid=eve{round_},ou=people,dc=example,dc=org"
        events = [
            add_person("bwong"),
            membership("add", VPN, BWONG),
            membership("add", STAFF, BWONG, state="approved"),
            add_person(f"eve{round_}"),
            membership("add", VPN, eve),
        ]
        plan = write_plan(tmp_path / f"plan{round_}.json", events)
        args = [sys.executable, "-m", "recondiff", "apply", str(plan), "--url",
                ldap_server.url, "--bind-dn", ldap_server.admin_dn, "--password-env", "RD_PW",
                "-q", "--allow-plaintext", "--allow-unsigned", "--config",
                str(write_config(tmp_path))]  # fmt: skip
        for _kill in range(3):
            proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            time.sleep(rng.uniform(0.2, 1.2))
            proc.kill()
            proc.communicate()
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, done.stderr
        got = [line.split("\t")[1] for line in done.stdout.splitlines()]
        assert got == ["stale", "stale", "stale", "applied", "applied"], done.stdout
        assert BWONG not in ldap_server.values(VPN, "member")
        assert BWONG not in ldap_server.values(STAFF, "member")
        assert ldap_server.values(eve, "memberOf") == [VPN]


# -- more attacks --------------------------------------------------------------------------------


def test_rj_a_membership_listed_before_its_accounts_creation_is_not_stuck(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """Hole (liveness): a membership placed before its account's add (a plan
    edited by hand; the planner puts the add first) waited for an add that had
    "not run yet" in every later apply too, although the add was applied, and
    the run exited 0 with the group never granted."""
    fresh_add = add_person("eve")
    eve_vpn = membership("add", VPN, EVE)
    stale_add = add_person("bwong")
    bwong_vpn = membership("add", VPN, BWONG)
    plan = write_plan(tmp_path / "plan.jsonl", [eve_vpn, fresh_add, bwong_vpn, stale_add])
    first = apply_plan(plan, target(ldap_server))
    assert [o.outcome for o in first.outcomes] == ["skipped", "applied", "skipped", "stale"]
    assert ldap_server.values(VPN, "member").count(EVE) == 0
    dry = apply_plan(plan, target(ldap_server), dry_run=True)
    assert [o.outcome for o in dry.outcomes] == [
        "would_apply", "applied", "would_be_stale", "stale"
    ]  # fmt: skip
    again = apply_plan(plan, target(ldap_server))
    assert [o.outcome for o in again.outcomes] == ["applied", "applied", "stale", "stale"]
    assert EVE in ldap_server.values(VPN, "member")
    assert BWONG not in ldap_server.values(VPN, "member")


def test_rj_a_lock_file_hard_linked_to_the_journal_is_refused_and_the_journal_kept(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """Held: JOURNAL.lock planted as a hard link to the journal itself is not a
    recondiff lock: refused, the journal is not truncated."""
    plan = write_plan(tmp_path / "plan.jsonl", [modify_title(JDOE, "Engineer", "Lead Engineer")])
    journal = default_journal(plan)
    apply_plan(plan, target(ldap_server))
    before = journal.read_bytes()
    os.link(journal, f"{journal}.lock")
    with pytest.raises(JournalError, match="is not a recondiff lock"):
        apply_plan(plan, target(ldap_server))
    assert journal.read_bytes() == before


def test_rj_the_journal_holds_no_raw_terminal_controls(ldap_server: Slapd, tmp_path: Path) -> None:
    """Hole: docs/plan.md says the journal keeps control characters "as they
    are (JSON escapes them)", but json.dumps(ensure_ascii=False) escapes only
    C0 controls: DEL, C1 (U+009B is CSI) and bidirectional overrides from a
    DN reached `tail -f journal` raw."""
    odd = f"cn=odd\x7f\x9b31m\u202e,ou=people,{BASE_DN}"
    conn = ldap_server.connection()
    assert conn.add(odd, ["person"], {"sn": "Odd"})
    conn.unbind()
    plan = write_plan(
        tmp_path / "plan.jsonl",
        [event("modify", odd, [change("replace", "description", "x")], key="odd")],
    )
    result = apply_plan(plan, target(ldap_server))
    assert [o.outcome for o in result.outcomes] == ["applied"]
    text = default_journal(plan).read_text(encoding="utf-8")
    assert text.isascii() or all(ch.isprintable() or ch == "\n" for ch in text)
    assert not set("\x7f\x9b\u202e") & set(text)
    assert [json.loads(line)["message"] for line in text.splitlines()][-1].startswith(
        f"modify {odd}"
    )


def test_rj_dry_run_says_what_the_real_run_records_for_the_groups_of_a_failed_creation(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """Hole (wording): for the groups of a creation that would fail, the dry run
    said "the account's creation … is fail", the real run "is failed"."""
    bad_add = event(
        "add", EVE, [change("add", "objectClass", "inetOrgPerson"), change("add", "bad attr", "x")],
        [], response="add_to_endpoint", situation="missing",
    )  # fmt: skip
    eve_vpn = membership("add", VPN, EVE)
    plan = write_plan(tmp_path / "plan.jsonl", [bad_add, eve_vpn])
    dry = apply_plan(plan, target(ldap_server), dry_run=True)
    real = apply_plan(plan, target(ldap_server))
    assert [o.outcome for o in dry.outcomes] == ["would_fail", "would_be_stale"]
    assert [o.outcome for o in real.outcomes] == ["failed", "stale"]
    assert dry.outcomes[1].message == real.outcomes[1].message
    assert " is failed, " in real.outcomes[1].message


def test_rj_a_plan_reached_by_a_symlink_has_the_journal_of_the_plan(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """Hole: the default journal was the name given with `.journal.jsonl`, so
    `apply current.json` (a link to out/plan.jsonl, as an operator keeps for the
    latest run) used `current.journal.jsonl`: not stopped by the lock of an
    apply of out/plan.jsonl, and a later run sent everything again."""
    out = tmp_path / "out"
    out.mkdir()
    sent_twice = event("modify", JDOE, [change("replace", "description", "once")])
    plan = write_plan(out / "plan.jsonl", [sent_twice])
    current = tmp_path / "current.json"
    current.symlink_to(plan)
    holder = _holder(plan)
    try:
        with pytest.raises(JournalError, match="another recondiff apply is using this journal"):
            apply_plan(current, target(ldap_server))
    finally:
        holder.close()
    assert [o.outcome for o in apply_plan(plan, target(ldap_server)).outcomes] == ["applied"]
    csn = ldap_server.values(JDOE, "entryCSN")
    again = apply_plan(current, target(ldap_server))
    assert [(o.outcome, o.previous) for o in again.outcomes] == [("applied", True)]
    assert ldap_server.values(JDOE, "entryCSN") == csn
    assert not (tmp_path / "current.journal.jsonl").exists()


class MutingProxy:
    """A TCP relay to slapd that, once :attr:`mute` is set, still relays the
    client's requests but drops the server's answers: the server applies an
    operation and the client never hears of it (a hang after sending)."""

    def __init__(self, port: int) -> None:
        self.upstream = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ldap://127.0.0.1:{self.listener.getsockname()[1]}"
        self.mute = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                server = socket.create_connection(("127.0.0.1", self.upstream))
                for source, sink, muted in ((client, server, False), (server, client, True)):
                    threading.Thread(
                        target=self._pump, args=(source, sink, muted), daemon=True
                    ).start()

    def _pump(self, source: socket.socket, sink: socket.socket, muted: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if not (muted and self.mute.is_set()):
                    sink.sendall(data)

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize("kind", ["fresh", "identical-existing"])
def test_rj_a_server_hang_after_an_add_resumes_to_the_truth(
    ldap_server: Slapd, tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held with 53964f6: the server takes the add and its answer never comes
    (a hang); apply stops on the timeout with the add `started`. The re-run
    records what happened: a fresh account it created is applied and gets its
    group; an existing identical account (the server answered 68) is stale and
    does not. (The clock-skew allowance is cut to a second: the fixture's
    bwong is seconds old, an account in life is older than a minute.)"""
    import recondiff.apply.event as apply_mod

    monkeypatch.setattr(apply_mod, "CLOCK_SKEW", timedelta(seconds=1))
    first = event("modify", JDOE, [change("replace", "description", "before")])
    if kind == "fresh":
        dn, creation = EVE, add_person("eve")
    else:
        dn, creation = BWONG, event(
            "add", BWONG,
            [change("add", "objectClass", "inetOrgPerson"), change("add", "uid", "bwong"),
             change("add", "cn", "Bo Wong"), change("add", "sn", "Wong")],
            [], response="add_to_endpoint", situation="missing",
        )  # fmt: skip
        time.sleep(2.5)  # bwong was loaded just now: created before the apply, as in life
    joins = membership("add", VPN, dn)
    plan = write_plan(tmp_path / "plan.jsonl", [first, creation, joins])
    proxy = MutingProxy(ldap_server.port)
    try:
        hanging = LdapTarget(
            proxy.url, ldap_server.admin_dn, ldap_server.password, timeout=2, allow_plaintext=True
        )
        with pytest.raises(LdapError, match="lost the connection"):
            apply_plan(plan, hanging, after_event=lambda outcome: proxy.mute.set())
    finally:
        proxy.close()
    lines = [json.loads(x) for x in default_journal(plan).read_text().splitlines()]
    assert (lines[-1]["event"], lines[-1]["outcome"]) == (creation["id"], "started")
    again = apply_plan(plan, target(ldap_server))
    got = [(o.outcome, o.result) for o in again.outcomes]
    if kind == "fresh":
        assert got[1:] == [("applied", 0), ("applied", 0)]
        assert ldap_server.values(EVE, "memberOf") == [VPN]
    else:
        assert got[1:] == [("stale", 68), ("stale", None)]
        assert BWONG not in ldap_server.values(VPN, "member")
