"""`recondiff apply`: its journal, its lock and the order of events (issue 14,
items 5, 6, 7, 14 and 15), against a real slapd (tests/slapd.py), no mocks.

The plan builder is the one of tests/test_apply.py.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import ldap3
import pytest
from click.testing import CliRunner

from recondiff import review
from recondiff.apply.journal import JournalError, default_journal
from recondiff.cli.main import cli
from recondiff.plan.file import read_header
from tests.conftest import ROOT
from tests.plans import apply_unsigned as apply_plan
from tests.plans import unsigned
from tests.slapd import Slapd, ldap_server
from tests.test_apply import (
    ASMITH,
    BASE,
    BWONG,
    CDAVIS,
    JDOE,
    STAFF,
    VPN,
    add_person,
    change,
    event,
    journal_lines,
    membership,
    modify_title,
    target,
    write_config,
    write_plan,
)

__all__ = ["ldap_server"]  # the fixture, imported so pytest finds it here

EVE = f"uid=eve,ou=people,{BASE}"


def decide_one(plan: Path, event_id: str, decision: str) -> None:
    review.decide_file(plan, [event_id], decision, "cab")


def outcomes(result: Any) -> list[tuple[str, str]]:
    return [(o.event_id, o.outcome) for o in result.outcomes]


def complete_lines(journal: Path) -> list[dict[str, Any]]:
    """The journal's records, without a half-written last line."""
    text = journal.read_text(encoding="utf-8")
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()]


def finals(journal: Path, event_id: str) -> list[str]:
    return [line["outcome"] for line in complete_lines(journal) if line["event"] == event_id]


# -- item 5: a stale account creation stops its memberships -----------------------------


def test_stale_add_stops_the_memberships_planned_for_that_account(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """bwong exists already (someone else created it, or a size-limited export
    made the account look missing): its add is stale, and the groups planned
    for the new account are not granted to the existing one."""
    stale_add = add_person("bwong")
    into_vpn = membership("add", VPN, BWONG)  # auto
    into_staff = membership("add", STAFF, BWONG, state="approved")  # configured for review
    fresh_add = add_person("eve")
    eve_vpn = membership("add", VPN, EVE)
    plan = write_plan(tmp_path / "plan.jsonl", [stale_add, into_vpn, into_staff, fresh_add, eve_vpn])
    result = apply_plan(plan, target(ldap_server))
    by_id = {o.event_id: o for o in result.outcomes}
    assert (by_id[stale_add["id"]].outcome, by_id[stale_add["id"]].result) == ("stale", 68)
    for member in (into_vpn, into_staff):
        got = by_id[member["id"]]
        assert got.outcome == "stale", got
        assert got.result is None
        assert stale_add["id"] in got.message
        assert got.message.startswith("not sent: the account's creation (add ")
    assert by_id[fresh_add["id"]].outcome == "applied"
    assert by_id[eve_vpn["id"]].outcome == "applied"
    assert result.exit_code == 1
    assert BWONG not in ldap_server.values(VPN, "member")
    assert BWONG not in ldap_server.values(STAFF, "member")
    assert ldap_server.values(BWONG, "memberOf") == []
    assert ldap_server.values(EVE, "memberOf") == [VPN]
    journal = default_journal(plan)
    assert finals(journal, into_vpn["id"]) == ["stale"]  # never even `started`
    # Final: a re-run reports it again and still sends nothing.
    again = apply_plan(plan, target(ldap_server))
    assert {o.event_id: (o.outcome, o.previous) for o in again.outcomes}[into_vpn["id"]] == (
        "stale",
        True,
    )
    assert BWONG not in ldap_server.values(VPN, "member")


def test_a_resumed_add_is_applied_only_if_the_entry_is_the_one_it_creates(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """The process died after journalling `started` for an add, before sending
    it, and someone else created that DN meanwhile: on resume, an entry that
    merely exists is not taken as the add's (its values differ), so the add is
    sent, is stale (68), and the account's groups are not granted."""
    stale_add = add_person("bwong")  # bwong exists with cn "Bo Wong", not "Bwong"
    into_vpn = membership("add", VPN, BWONG)
    plan = write_plan(tmp_path / "plan.jsonl", [stale_add, into_vpn])
    written = read_header(plan)
    started = {
        "event": stale_add["id"], "outcome": "started", "result": None, "message": "add",
        "at": "2026-11-23T13:00:00.000+00:00", "plan": written["plan_id"],
        "digest": written["digest"],
    }  # fmt: skip
    default_journal(plan).write_text(json.dumps(started) + "\n", encoding="utf-8")
    result = apply_plan(plan, target(ldap_server))
    assert [(o.outcome, o.result) for o in result.outcomes] == [("stale", 68), ("stale", None)]
    assert BWONG not in ldap_server.values(VPN, "member")
    # Its own entry, created before the crash, is recognised.
    eve = add_person("eve")
    plan2 = write_plan(tmp_path / "plan2.json", [eve])
    apply_plan(plan2, target(ldap_server))
    _drop_last_final(default_journal(plan2), eve["id"])
    again = apply_plan(plan2, target(ldap_server))
    assert [(o.outcome, o.result) for o in again.outcomes] == [("applied", 0)]
    assert "already on the server" in again.outcomes[0].message


def test_memberships_wait_for_a_pending_add_and_stop_for_a_failed_one(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    pending_add = add_person("eve", state="pending")
    eve_vpn = membership("add", VPN, EVE)
    classless = event(  # the server refuses it: failed
        "add",
        f"uid=nobody,ou=people,{BASE}",
        [change("add", "uid", "nobody")],
        situation="missing",
    )
    nobody = f"uid=nobody,ou=people,{BASE}"
    nobody_staff = membership("add", STAFF, nobody)
    plan = write_plan(tmp_path / "plan.jsonl", [pending_add, eve_vpn, classless, nobody_staff])
    result = apply_plan(plan, target(ldap_server))
    by_id = {o.event_id: o for o in result.outcomes}
    assert by_id[eve_vpn["id"]].outcome == "skipped"
    assert by_id[eve_vpn["id"]].message == (
        f"waiting for the account's creation (add {pending_add['id']}: pending approval)"
    )
    assert by_id[classless["id"]].outcome == "failed"
    assert by_id[nobody_staff["id"]].outcome == "stale"
    assert classless["id"] in by_id[nobody_staff["id"]].message
    assert nobody not in ldap_server.values(STAFF, "member")
    assert VPN not in (ldap_server.entry(EVE) or {}).get("memberof", [])
    # The board approves the creation: the next apply creates eve, then grants the group.
    decide_one(plan, pending_add["id"], "approved")
    again = apply_plan(plan, target(ldap_server))
    assert {o.event_id: (o.outcome, o.previous) for o in again.outcomes}[eve_vpn["id"]] == (
        "applied",
        False,
    )
    assert ldap_server.values(EVE, "memberOf") == [VPN]


def test_dry_run_says_the_memberships_of_a_stale_add_would_be_stale(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    stale_add = add_person("bwong")
    into_vpn = membership("add", VPN, BWONG)
    plan = write_plan(tmp_path / "plan.jsonl", [stale_add, into_vpn])
    dry = apply_plan(plan, target(ldap_server), dry_run=True)
    assert [(o.outcome, o.result) for o in dry.outcomes] == [
        ("would_be_stale", 68),
        ("would_be_stale", None),
    ]
    assert stale_add["id"] in dry.outcomes[1].message
    real = apply_plan(plan, target(ldap_server))
    assert [o.outcome for o in real.outcomes] == ["stale", "stale"]


# -- item 6: an applied event is never sent again ----------------------------------------


def test_approve_apply_reject_apply_approve_apply_sends_once(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    ev = modify_title(JDOE, "Engineer", "Lead Engineer", state="approved")
    plan = write_plan(tmp_path / "plan.jsonl", [ev])
    journal = default_journal(plan)
    assert outcomes(apply_plan(plan, target(ldap_server))) == [(ev["id"], "applied")]
    decide_one(plan, ev["id"], "rejected")
    second = apply_plan(plan, target(ldap_server))
    assert [(o.outcome, o.previous) for o in second.outcomes] == [("applied", True)]
    assert "rejected after it was applied" in second.outcomes[0].message
    decide_one(plan, ev["id"], "approved")
    third = apply_plan(plan, target(ldap_server))
    assert [(o.outcome, o.previous) for o in third.outcomes] == [("applied", True)]
    assert finals(journal, ev["id"]) == ["started", "applied"]
    assert ldap_server.values(JDOE, "title") == ["Lead Engineer"]


def test_a_journal_where_skipped_followed_applied_is_not_resent(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """Journals written before the fix hold `applied` then `skipped`: still done."""
    ev = event("modify", JDOE, [change("replace", "description", "once")], state="approved")
    plan = write_plan(tmp_path / "plan.jsonl", [ev])
    journal = default_journal(plan)
    apply_plan(plan, target(ldap_server))
    written = read_header(plan)
    skipped = {
        "event": ev["id"], "outcome": "skipped", "result": None, "message": "rejected by cab",
        "at": "2026-11-23T13:00:00.000+00:00", "plan": written["plan_id"],
        "digest": written["digest"],
    }  # fmt: skip
    with journal.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(skipped) + "\n")
    csn = ldap_server.values(JDOE, "entryCSN")
    again = apply_plan(plan, target(ldap_server))
    assert [(o.outcome, o.previous) for o in again.outcomes] == [("applied", True)]
    assert ldap_server.values(JDOE, "entryCSN") == csn  # nothing was written


def _drop_last_final(journal: Path, event_id: str, *, half: bool = True) -> None:
    """As if the process died after the server applied ``event_id``, while
    journalling it: its last line is cut to a half-written one."""
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    assert json.loads(lines[-1])["event"] == event_id
    assert json.loads(lines[-2]) | {"outcome": "started"} == json.loads(lines[-2])
    journal.write_text("".join(lines[:-1]) + (lines[-1][:25] if half else ""), encoding="utf-8")


def test_sent_then_rejected_is_checked_on_the_server(ldap_server: Slapd, tmp_path: Path) -> None:
    """Sent, not journalled, then rejected: the server has it, so it is
    recorded `applied` (not `skipped`), and approving it later sends nothing."""
    ev = event("modify", JDOE, [change("replace", "description", "once")], state="approved")
    plan = write_plan(tmp_path / "plan.jsonl", [ev])
    journal = default_journal(plan)
    apply_plan(plan, target(ldap_server))
    _drop_last_final(journal, ev["id"])
    csn = ldap_server.values(JDOE, "entryCSN")
    decide_one(plan, ev["id"], "rejected")
    second = apply_plan(plan, target(ldap_server))
    assert [o.outcome for o in second.outcomes] == ["applied"]
    assert "already on the server" in second.outcomes[0].message
    assert finals(journal, ev["id"]) == ["started", "applied"]
    decide_one(plan, ev["id"], "approved")
    third = apply_plan(plan, target(ldap_server))
    assert [(o.outcome, o.previous) for o in third.outcomes] == [("applied", True)]
    assert ldap_server.values(JDOE, "entryCSN") == csn


def test_started_then_rejected_but_not_on_the_server_is_skipped(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """The process died after journalling `started`, before sending; then the
    board rejects it: nothing is on the server, so `skipped`, and sent only
    once it is approved again."""
    ev = modify_title(JDOE, "Engineer", "Lead Engineer", state="approved")
    plan = write_plan(tmp_path / "plan.jsonl", [ev])
    journal = default_journal(plan)
    apply_plan(plan, target(ldap_server))
    _drop_last_final(journal, ev["id"], half=False)
    ldap_server.modify(f"dn: {JDOE}\nchangetype: modify\nreplace: title\ntitle: Engineer\n-\n")
    decide_one(plan, ev["id"], "rejected")
    second = apply_plan(plan, target(ldap_server))
    assert [o.outcome for o in second.outcomes] == ["skipped"]
    assert ldap_server.values(JDOE, "title") == ["Engineer"]
    decide_one(plan, ev["id"], "approved")
    third = apply_plan(plan, target(ldap_server))
    assert [(o.outcome, o.previous) for o in third.outcomes] == [("applied", False)]
    assert ldap_server.values(JDOE, "title") == ["Lead Engineer"]


STEPS = ("approve", "reject", "apply", "crash_after_send", "crash_before_send")


def _distinct(steps: tuple[str, ...]) -> bool:
    """Leave out sequences that repeat a shorter one: a decision that changes
    nothing or is never followed by an apply, a crash while nothing can be sent."""
    if steps[-1] in ("approve", "reject"):
        return False
    state = "pending"
    for step in steps:
        if step in ("approve", "reject"):
            decided = "approved" if step == "approve" else "rejected"
            if decided == state:
                return False
            state = decided
        elif step.startswith("crash") and state != "approved":
            return False
    return True


SEQUENCES = [s for s in itertools.product(STEPS, repeat=5) if _distinct(s)]


def test_every_order_of_approve_reject_apply_and_crash_sends_at_most_once(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """Every sequence of five steps (but repeats), starting from a pending event. The event
    replaces a value, so sending it again would succeed: the server's entryCSN
    (it changes on every write) counts what reached the directory.

    crash_after_send: an apply that dies after the server applied the event,
    while journalling it (its last line half-written). crash_before_send: a
    process that died after journalling `started` for a runnable event, before
    sending it."""
    conn = ldap_server.connection()

    def csn() -> str:
        conn.search(JDOE, "(objectClass=*)", ldap3.BASE, attributes=["entryCSN", "description"])
        return str(conn.response[0]["raw_attributes"]["entryCSN"][0])

    def on_server() -> bool:
        conn.search(JDOE, "(description=once)", ldap3.BASE, attributes=["1.1"])
        return bool(conn.response)

    # The plans and journals on tmpfs where there is one: their fsyncs are not
    # what this test is about, and ~2,000 of them on a shared disk are slow.
    shm = Path("/dev/shm")
    scratch = tempfile.TemporaryDirectory(dir=shm if os.access(shm, os.W_OK) else tmp_path)
    try:
        for number, steps in enumerate(SEQUENCES):
            conn.modify(JDOE, {"description": [(ldap3.MODIFY_REPLACE, [])]})
            ev = event(
                "modify", JDOE, [change("replace", "description", "once")], state="pending"
            )
            plan = write_plan(Path(scratch.name) / f"plan{number}.json", [ev])
            journal = default_journal(plan)
            writes = 0
            state = "pending"
            after = csn()
            for step in steps:
                before = after
                if step in ("approve", "reject"):
                    state = "approved" if step == "approve" else "rejected"
                    decide_one(plan, ev["id"], state)
                elif step == "crash_before_send":
                    last = finals(journal, ev["id"])[-1:] if journal.exists() else []
                    if state == "approved" and last in ([], ["skipped"], ["started"]):
                        written = read_header(plan)
                        line = {
                            "event": ev["id"], "outcome": "started", "result": None,
                            "message": "", "at": "2026-11-23T13:00:00.000+00:00",
                            "plan": written["plan_id"], "digest": written["digest"],
                        }  # fmt: skip
                        text = journal.read_text(encoding="utf-8") if journal.exists() else ""
                        text = text[: text.rfind("\n") + 1]  # what the dead process cut off
                        journal.write_text(text + json.dumps(line) + "\n", encoding="utf-8")
                else:
                    started = finals(journal, ev["id"]).count("started") if journal.exists() else 0
                    result = apply_plan(plan, target(ldap_server))
                    sent = finals(journal, ev["id"]).count("started") > started
                    if step == "crash_after_send" and sent:
                        _drop_last_final(journal, ev["id"])
                    else:
                        (got,) = result.outcomes
                        # What the journal says is what the server holds.
                        assert (got.outcome == "applied") == on_server(), (steps, got)
                        if state == "approved":
                            assert got.outcome == "applied", (steps, got)
                after = csn()
                if after != before:
                    writes += 1
                assert writes <= 1, (steps, journal.read_text(encoding="utf-8"))
    finally:
        conn.unbind()
        scratch.cleanup()


# -- item 7: two applies of one plan cannot race -------------------------------------------


class HeldProxy:
    """A TCP relay to slapd that accepts a client at once but relays nothing
    until :meth:`release`: the client is stuck in its bind, holding whatever it
    took before connecting."""

    def __init__(self, port: int) -> None:
        self.upstream = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ldap://127.0.0.1:{self.listener.getsockname()[1]}"
        self.accepted = threading.Event()
        self._go = threading.Event()
        self._threads: list[threading.Thread] = []
        self._start(self._serve)

    def _start(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            client, _ = self.listener.accept()
            self.accepted.set()
            self._go.wait()
            server = socket.create_connection(("127.0.0.1", self.upstream))
            self._start(self._pump, client, server)
            self._start(self._pump, server, client)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def release(self) -> None:
        self._go.set()

    def close(self) -> None:
        self._go.set()
        self.listener.close()


def _apply_process(url: str, server: Slapd, plan: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "RD_PW": server.password, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "recondiff", *_safety_flags("apply", str(plan)), "--url", url,
         "--bind-dn", server.admin_dn, "--password-env", "RD_PW", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def _wait(condition: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_two_concurrent_applies_of_one_plan_cannot_race(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """The first apply reads the journal and then waits for the server (held
    by a relay); a second apply of the same plan starts meanwhile. Had the
    first read the journal before taking the lock, the second would apply
    everything, and the first would then send it all again from its outdated
    reading. Instead the second stops at once, naming the lock and its holder."""
    events = [
        event("modify", JDOE, [change("replace", "description", "once")]),
        membership("add", STAFF, BWONG),
        modify_title(ASMITH, "Analyst", "Lead Analyst"),
    ]
    plan = write_plan(tmp_path / "plan.jsonl", events)
    journal = default_journal(plan)
    relay = HeldProxy(ldap_server.port)
    try:
        first = _apply_process(relay.url, ldap_server, plan)
        _wait(relay.accepted.is_set, "the first apply to connect")
        second = _apply_process(ldap_server.url, ldap_server, plan)
        out2, err2 = second.communicate(timeout=60)
        relay.release()
        out1, err1 = first.communicate(timeout=60)
    finally:
        relay.close()
    lock = f"{journal}.lock"
    assert second.returncode == 2, (out2, err2)
    assert out2 == ""
    assert err2.startswith(
        f"recondiff: error: {lock}: another recondiff apply is using this journal "
        f"(pid {first.pid}, "
    ), err2
    assert err2.endswith("); wait for it to finish\n")
    assert err2.count("\n") == 1
    assert first.returncode == 0, (out1, err1)
    assert [line.split("\t")[1] for line in out1.splitlines()] == ["applied"] * 3
    assert [(line["event"], line["outcome"]) for line in journal_lines(journal)] == [
        (e["id"], o) for e in events for o in ("started", "applied")
    ]
    assert not Path(lock).exists()  # removed when the apply ends
    assert ldap_server.values(STAFF, "member") == [JDOE, ASMITH, BWONG]


def test_the_lock_names_its_holder_and_goes_away(ldap_server: Slapd, tmp_path: Path) -> None:
    """A second apply while a real first one is stopped (SIGSTOP) mid-run."""
    events = [modify_title(JDOE, "Engineer", "Lead Engineer")]
    plan = write_plan(tmp_path / "plan.jsonl", events)
    journal = default_journal(plan)
    relay = HeldProxy(ldap_server.port)
    try:
        first = _apply_process(relay.url, ldap_server, plan)
        _wait(relay.accepted.is_set, "the first apply to connect")
        os.kill(first.pid, signal.SIGSTOP)
        try:
            holder = json.loads(Path(f"{journal}.lock").read_text(encoding="utf-8"))
            assert holder["pid"] == first.pid
            code, out, err = _cli(
                "apply", str(plan), "--url", ldap_server.url, "--bind-dn", ldap_server.admin_dn,
                "--password-env", "RD_PW", env={"RD_PW": ldap_server.password},
            )  # fmt: skip
            assert (code, out) == (2, "")
            assert f"(pid {first.pid}, {holder['user']}@{holder['host']}, since " in err
        finally:
            os.kill(first.pid, signal.SIGCONT)
        relay.release()
        first.communicate(timeout=60)
    finally:
        relay.close()
    assert first.returncode == 0
    assert not Path(f"{journal}.lock").exists()
    assert ldap_server.values(JDOE, "title") == ["Lead Engineer"]


def test_a_killed_apply_leaves_a_lock_file_that_does_not_lock(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    events = [modify_title(JDOE, "Engineer", "Lead Engineer")]
    plan = write_plan(tmp_path / "plan.jsonl", events)
    journal = default_journal(plan)
    relay = HeldProxy(ldap_server.port)
    try:
        first = _apply_process(relay.url, ldap_server, plan)
        _wait(relay.accepted.is_set, "the first apply to connect")
        first.kill()
        first.communicate(timeout=60)
    finally:
        relay.close()
    assert Path(f"{journal}.lock").exists()  # SIGKILL: no clean-up, but no lock held
    result = apply_plan(plan, target(ldap_server))
    assert [o.outcome for o in result.outcomes] == ["applied"]
    assert not Path(f"{journal}.lock").exists()


@pytest.mark.parametrize("kind", ["symlink", "foreign"])
def test_a_lock_file_recondiff_did_not_write_is_left_alone(
    ldap_server: Slapd, tmp_path: Path, kind: str
) -> None:
    """JOURNAL.lock planted as a symbolic link to another file, or holding
    something else: refused, and the file it names is not truncated."""
    plan = write_plan(tmp_path / "plan.jsonl", [modify_title(JDOE, "Engineer", "Lead Engineer")])
    lock = Path(f"{default_journal(plan)}.lock")
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n", encoding="utf-8")
    if kind == "symlink":
        lock.symlink_to(precious)
    else:
        lock.write_text("keep me\n", encoding="utf-8")
    with pytest.raises(JournalError) as caught:
        apply_plan(plan, target(ldap_server))
    assert str(caught.value).startswith(f"{lock}: ")
    assert precious.read_text(encoding="utf-8") == "keep me\n"
    assert lock.is_symlink() if kind == "symlink" else lock.read_text() == "keep me\n"
    assert ldap_server.values(JDOE, "title") == ["Engineer"]


# -- item 14: --journal never overwrites a file it did not write ---------------------------


def _safety_flags(*args: str) -> list[str]:
    """An apply of a test plan over plain ldap:// to 127.0.0.1, with a config in force
    beside the plan (unless the test names its own)."""
    if args[:1] != ("apply",) or "--config" in args:
        return unsigned(args)
    config = Path(args[1]).parent / "recondiff.toml"
    if not config.exists():
        write_config(config.parent)
    return unsigned([*args, "--allow-plaintext", "--config", str(config)])


def _cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, _safety_flags(*args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    "content",
    [
        b"export SECRET=keep-me",  # one line, no trailing newline: was truncated to nothing
        b"line one\nline two",
        b'{"event": "x", "but": "not a journal"}',
        b"\x00\x00garbage",
    ],
    ids=["one-line", "two-lines", "json-like", "binary"],
)
def test_a_file_that_is_not_a_journal_is_refused_and_kept(
    ldap_server: Slapd, tmp_path: Path, content: bytes
) -> None:
    plan = write_plan(tmp_path / "plan.jsonl", [modify_title(JDOE, "Engineer", "Lead Engineer")])
    precious = tmp_path / "precious.txt"
    precious.write_bytes(content)
    with pytest.raises(JournalError) as caught:
        apply_plan(plan, target(ldap_server), journal_path=precious)
    message = str(caught.value)
    assert message.startswith(f"{precious}: ")
    assert "pass another --journal" in message
    assert precious.read_bytes() == content
    assert ldap_server.values(JDOE, "title") == ["Engineer"]
    assert not Path(f"{precious}.lock").exists()


@pytest.mark.parametrize("missing", ["event", "outcome", "result", "message", "at", "plan", "digest"])
def test_a_journal_line_missing_a_field_is_one_clear_error(
    ldap_server: Slapd, tmp_path: Path, missing: str
) -> None:
    ev = modify_title(JDOE, "Engineer", "Lead Engineer")
    plan = write_plan(tmp_path / "plan.jsonl", [ev])
    journal = default_journal(plan)
    apply_plan(plan, target(ldap_server))
    lines = journal_lines(journal)
    del lines[1][missing]
    journal.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    with pytest.raises(JournalError) as caught:
        apply_plan(plan, target(ldap_server))
    assert str(caught.value) == (
        f"{journal}: line 2 has no {missing!r} field, so it is not a record recondiff "
        "wrote; restore the journal or pass another --journal"
    )
    code, out, err = _cli(
        "apply", str(plan), "--url", ldap_server.url, "--bind-dn", ldap_server.admin_dn,
        "--password-env", "RD_PW", env={"RD_PW": ldap_server.password},
    )  # fmt: skip
    assert (code, out) == (2, "")
    assert err == f"recondiff: error: {caught.value}\n"


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("event", ["ev-0123456789abcdef"], "a list"),
        ("result", "0", "a string"),
        ("result", True, "a boolean"),
        ("message", None, "null"),
    ],
)
def test_a_journal_field_of_the_wrong_type_is_one_clear_error(
    ldap_server: Slapd, tmp_path: Path, field: str, value: Any, said: str
) -> None:
    ev = modify_title(JDOE, "Engineer", "Lead Engineer")
    plan = write_plan(tmp_path / "plan.jsonl", [ev])
    journal = default_journal(plan)
    apply_plan(plan, target(ldap_server))
    lines = journal_lines(journal)
    lines[0][field] = value
    journal.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    with pytest.raises(JournalError) as caught:
        apply_plan(plan, target(ldap_server))
    assert str(caught.value).startswith(f"{journal}: line 1: {field!r} is {said}, not ")


def test_a_journal_that_is_not_a_regular_file_is_refused(ldap_server: Slapd, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.jsonl", [modify_title(JDOE, "Engineer", "Lead Engineer")])
    with pytest.raises(JournalError, match=r"^/dev/null: not a regular file"):
        apply_plan(plan, target(ldap_server), journal_path="/dev/null")
    with pytest.raises(JournalError, match=r": not a regular file"):
        apply_plan(plan, target(ldap_server), journal_path=tmp_path)
    assert ldap_server.values(JDOE, "title") == ["Engineer"]


def test_a_half_written_record_is_still_cut_off(ldap_server: Slapd, tmp_path: Path) -> None:
    """What recondiff itself left (a record cut by a crash, or NULs after a
    power loss) is still cut off and the run resumes."""
    events = [modify_title(JDOE, "Engineer", "Lead Engineer"), modify_title(ASMITH, "Analyst", "X")]
    plan = write_plan(tmp_path / "plan.jsonl", events)
    journal = default_journal(plan)
    for tail in ('{"event": "ev-', '{"event": "ev-0123', "", "\x00" * 40):
        journal.write_text(tail, encoding="utf-8")
        apply_plan(plan, target(ldap_server), dry_run=True)
        assert journal.read_text(encoding="utf-8") == tail  # a dry run writes nothing
    journal.write_text('{"event": "ev-01', encoding="utf-8")
    result = apply_plan(plan, target(ldap_server))
    assert [o.outcome for o in result.outcomes] == ["applied", "applied"]
    assert [line["outcome"] for line in journal_lines(journal)] == ["started", "applied"] * 2


# -- item 15: the dry run tells the truth, and nothing raw reaches the terminal -------------


def test_dry_run_reports_value_level_conflicts_as_the_real_run_records_them(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    present = membership("add", STAFF, JDOE)  # jdoe is in staff already: 20
    absent = membership("delete", STAFF, BWONG)  # bwong is not in staff: 16
    multi = event(  # jdoe holds both titles: deleting one and adding the other fails (20)
        "modify", ASMITH, [change("delete", "title", "Analyst"), change("add", "title", "Boss")],
    )
    swap = event(  # delete then add the same value: fine
        "modify", CDAVIS, [change("delete", "title", "Intern"), change("add", "title", "intern")],
    )
    ldap_server.modify(f"dn: {ASMITH}\nchangetype: modify\nadd: title\ntitle: Boss\n-\n")
    plan = write_plan(tmp_path / "plan.jsonl", [present, absent, multi, swap])
    dry = apply_plan(plan, target(ldap_server), dry_run=True)
    assert [(o.outcome, o.result) for o in dry.outcomes] == [
        ("would_be_stale", 20),
        ("would_be_stale", 16),
        ("would_be_stale", 20),
        ("would_apply", None),
    ]
    assert dry.outcomes[0].message == (
        f"attributeOrValueExists (20): member already holds {JDOE!r} on the server"
    )
    assert dry.outcomes[1].message == (
        f"noSuchAttribute (16): member does not hold {BWONG!r} on the server"
    )
    real = apply_plan(plan, target(ldap_server))
    assert [(o.outcome, o.result) for o in real.outcomes] == [
        ("stale", 20),
        ("stale", 16),
        ("stale", 20),
        ("applied", 0),
    ]


def test_dry_run_reports_what_a_resume_records(ldap_server: Slapd, tmp_path: Path) -> None:
    """An add left `started` (the process died after the server created the
    entry): the real run records it applied, so the dry run says so too."""
    ev = add_person("eve")
    plan = write_plan(tmp_path / "plan.jsonl", [ev])
    journal = default_journal(plan)
    apply_plan(plan, target(ldap_server))
    _drop_last_final(journal, ev["id"])
    dry = apply_plan(plan, target(ldap_server), dry_run=True)
    assert [(o.outcome, o.result) for o in dry.outcomes] == [("applied", 0)]
    assert "already on the server" in dry.outcomes[0].message
    real = apply_plan(plan, target(ldap_server))
    assert [(o.outcome, o.message) for o in real.outcomes] == [
        (o.outcome, o.message) for o in dry.outcomes
    ]


ESC = "\x1b[2J\x1b[31m\x07\u202e"
CONTROLS = set("\x1b\x07\u202e")
SHOWN = "\\x1b[2J\\x1b[31m\\x07\\u202e"


def test_apply_escapes_terminal_control_characters(ldap_server: Slapd, tmp_path: Path) -> None:
    """DNs and values come from the directory; printed raw, an escape sequence
    would clear or recolour the operator's terminal, or reorder what it shows
    (plan show escapes them; so does apply, in every line it prints)."""
    odd = f"cn=odd{ESC},ou=people,{BASE}"  # slapd takes it: cn is a DirectoryString
    ghost = f"cn=ghost{ESC},ou=people,{BASE}"  # no such entry
    conn = ldap_server.connection()
    assert conn.add(odd, ["person"], {"sn": "Odd"})
    conn.unbind()
    described = event("modify", odd, [change("replace", "description", "x")], key="odd")
    joins = membership("add", STAFF, odd)
    missing = event("modify", ghost, [change("replace", "description", "x")], key="ghost")
    plan = write_plan(tmp_path / "plan.jsonl", [described, joins, missing])
    env = {"RD_PW": ldap_server.password, "RECONDIFF_PROGRESS": "1"}
    base = ["apply", str(plan), "--url", ldap_server.url, "--bind-dn", ldap_server.admin_dn,
            "--password-env", "RD_PW"]  # fmt: skip
    code, out, err = _cli(*base, "--dry-run", env=env)
    assert code == 1
    assert not CONTROLS & set(out + err)
    assert f"\twould_apply\tmodify cn=odd{SHOWN},ou=people" in out
    assert f"\twould_be_stale\tno such entry cn=ghost{SHOWN},ou=people" in out
    code, out, err = _cli(*base, env=env)
    assert code == 1
    assert not CONTROLS & set(out + err)
    assert f"\tapplied\tadd member cn=odd{SHOWN},ou=people" in out
    assert ldap_server.values(odd, "memberOf") == [STAFF]
    # An error line that quotes the server or the command line is escaped too.
    code, out, err = _cli(
        "apply", str(plan), "--url", ldap_server.url, "--bind-dn", f"cn=x{ESC}",
        "--password-env", "RD_PW", "--journal", str(tmp_path / "other.jsonl"), env=env,
    )  # fmt: skip
    assert code == 2
    assert not CONTROLS & set(err)
    assert f"bind as cn=x{SHOWN} failed" in err
