"""The decisions ledger (recondiff/plan/ledger.py) and the plan file
(recondiff/plan/file.py) attacked: an edited, removed, reordered, spliced,
duplicated or non-canonical line, a torn last line, a symbolic or hard link,
concurrent appends, an approver's name with control characters, a decision of
100,000 ids; and a plan file edited and re-sealed by hand. Each refusal is one
line; nothing is ever half-trusted. The signatures' own attacks are in
tests/test_signed_apply.py."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from recondiff import review
from recondiff.cli.main import cli
from recondiff.errors import InputError
from recondiff.plan import ledger
from recondiff.plan.file import (
    canonical,
    counts,
    digest_of,
    dumps,
    event_id,
    load_plan,
    read_header,
    save_plan,
    verify,
)
from recondiff.review.sheet import DECISION_COLUMNS
from tests.conftest import ROOT
from tests.test_apply import (
    ASMITH,
    BWONG,
    CDAVIS,
    JDOE,
    STAFF,
    VPN,
    make_plan,
    membership,
    modify_title,
)

# -- plans and ledgers ---------------------------------------------------------------


def events() -> list[dict[str, Any]]:
    """Three events that need approval, then one auto event."""
    return [
        modify_title(JDOE, "Engineer", "Lead Engineer", state="pending"),
        membership("add", STAFF, BWONG, state="pending"),
        membership("delete", VPN, ASMITH, state="pending"),
        modify_title(CDAVIS, "Analyst", "Senior Analyst"),
    ]


def write(path: Path, plan_id: str = "pl-0123456789abcdef") -> list[str]:
    """A fresh plan at ``path`` (no ledger); its event ids, the auto one last."""
    plan = make_plan(events(), plan_id=plan_id)
    save_plan(plan, path)
    return [e["id"] for e in plan["events"]]


def decide(path: Path, ids: list[str], decision: str = "approved", by: str = "alice") -> None:
    review.decide_file(path, ids, decision, by)


def raw_lines(path: Path) -> list[bytes]:
    return ledger.ledger_path(path).read_bytes().splitlines()


def put_lines(path: Path, lines: list[bytes]) -> None:
    ledger.ledger_path(path).write_bytes(b"".join(line + b"\n" for line in lines))


def refused(path: Path, *words: str) -> str:
    """Reading the plan with its ledger is refused with one line holding ``words``."""
    with pytest.raises(InputError) as caught:
        load_plan(path)
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    return message


def states(path: Path) -> list[str]:
    return [e["approval"]["state"] for e in load_plan(path)["events"]]


def rechained(lines: list[dict[str, Any]], digest: str) -> list[bytes]:
    """``lines`` re-numbered and re-hashed as an attacker with write access would:
    each valid on its own and chained to the one before it."""
    out: list[bytes] = []
    prev = digest
    for seq, data in enumerate(lines, start=1):
        data = data | {"seq": seq, "prev": prev}
        raw = canonical(data)
        out.append(raw)
        prev = ledger.line_hash(raw)
    return out


@pytest.fixture
def plan(tmp_path: Path) -> tuple[Path, list[str]]:
    path = tmp_path / "out" / "plan.jsonl"
    path.parent.mkdir()
    return path, write(path)


# -- the chain -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("by", "mallory"), ("ids", None), ("decision", "approved"), ("comment", "ok")],
)
def test_an_edited_line_breaks_the_chain(
    plan: tuple[Path, list[str]], field: str, value: Any
) -> None:
    path, ids = plan
    decide(path, ids[:1], "rejected")
    decide(path, ids[1:2])
    first, second = raw_lines(path)
    data = orjson.loads(first)
    data[field] = value if value is not None else ids[:3]  # a canonical, valid line
    put_lines(path, [canonical(data), second])
    refused(path, "line 2", "hash chain is broken")


def test_the_last_line_edited_is_caught_only_by_the_head_or_a_signature(
    plan: tuple[Path, list[str]],
) -> None:
    """Nothing hashes the last line: an edit of it leaves a valid chain. The
    ledger's head (--decisions-head) or its signature catches it
    (tests/test_signed_apply.py); an unsigned ledger read alone does not."""
    path, ids = plan
    decide(path, ids[:1], "rejected")
    head = ledger.head(ledger.read(path, read_header(path)), read_header(path))
    data = orjson.loads(raw_lines(path)[0])
    data["decision"] = "approved"
    put_lines(path, [canonical(data)])
    assert states(path)[0] == "approved"  # the documented limit of an unsigned ledger
    lines = ledger.read(path, read_header(path))
    assert ledger.head(lines, read_header(path)) != head


def test_a_removed_middle_line_is_refused(plan: tuple[Path, list[str]]) -> None:
    path, ids = plan
    for event in ids[:3]:
        decide(path, [event])
    first, _, third = raw_lines(path)
    put_lines(path, [first, third])
    refused(path, "line 2", "hash chain is broken")


def test_reordered_lines_are_refused(plan: tuple[Path, list[str]]) -> None:
    path, ids = plan
    decide(path, ids[:1], "rejected")
    decide(path, ids[:1], "approved")
    first, second = raw_lines(path)
    put_lines(path, [second, first])
    refused(path, "line 1", "hash chain is broken")


def test_a_duplicated_line_is_refused(plan: tuple[Path, list[str]]) -> None:
    path, ids = plan
    decide(path, ids[:1])
    decide(path, ids[1:2])
    first, second = raw_lines(path)
    put_lines(path, [first, second, second])
    refused(path, "line 3", "hash chain is broken")


def test_a_line_copied_from_another_plans_ledger_is_refused(tmp_path: Path) -> None:
    """Two plans of the same config (another run): a decision of one is no decision of the other,
    even with the chain re-computed for the target ledger."""
    mine, theirs = tmp_path / "a" / "plan.jsonl", tmp_path / "b" / "plan.jsonl"
    mine.parent.mkdir()
    theirs.parent.mkdir()
    ids = write(mine)
    write(theirs, plan_id="pl-fedcba9876543210")
    assert read_header(mine)["digest"] != read_header(theirs)["digest"]
    decide(theirs, ids[:1])
    copied = raw_lines(theirs)
    put_lines(mine, copied)
    refused(mine, "line 1", "for another plan")
    data = orjson.loads(copied[0])
    put_lines(mine, rechained([data], read_header(mine)["digest"]))  # prev fixed, plan not
    refused(mine, "line 1", "for another plan")


def test_a_line_naming_an_unknown_or_an_auto_event_is_refused(
    plan: tuple[Path, list[str]],
) -> None:
    path, ids = plan
    header = read_header(path)
    # ledger.append is the low-level writer: it trusts its caller's ids; every reader checks them
    ledger.append(path, header, ledger.Entry("approved", ["ev-00000000deadbeef"], "alice"))
    refused(path, "line 1", "ev-00000000deadbeef", "not in the plan")
    ledger.ledger_path(path).unlink()
    ledger.append(path, header, ledger.Entry("approved", [ids[3]], "alice"))
    refused(path, "line 1", ids[3], "needs no approval")
    with pytest.raises(InputError, match="needs no approval"):
        decide(path, [ids[3]])  # and plan approve refuses it before writing anything


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda d: orjson.dumps(d), id="keys-unsorted"),
        pytest.param(lambda d: canonical(d).replace(b'","', b'", "'), id="spaces"),
        pytest.param(lambda d: canonical(d).replace(b"alice", b"\\u0061lice"), id="escape"),
        pytest.param(lambda d: canonical(d)[:-1] + b',"seq":1}', id="duplicate-key"),
        pytest.param(lambda d: canonical(d) + b"\r", id="crlf"),
        pytest.param(lambda d: canonical(d | {"extra": 1}), id="extra-key"),
        pytest.param(lambda d: canonical({k: v for k, v in d.items() if k != "at"}), id="no-at"),
    ],
)
def test_a_non_canonical_line_is_refused(plan: tuple[Path, list[str]], mangle: Any) -> None:
    path, ids = plan
    decide(path, ids[:1])
    data = dict(sorted(orjson.loads(raw_lines(path)[0]).items(), reverse=True))
    put_lines(path, [mangle(data)])
    refused(path, "line 1", "edited by hand")


@pytest.mark.parametrize("seq", [True, 1.0], ids=["bool", "float"])
def test_a_seq_that_is_not_an_integer_is_refused(plan: tuple[Path, list[str]], seq: Any) -> None:
    """``true == 1`` and ``1.0 == 1`` in Python: a canonical line with such a seq
    passed the chain check (a later reader, DuckDB or jq, sees no integer)."""
    path, ids = plan
    decide(path, ids[:1])
    data = orjson.loads(raw_lines(path)[0]) | {"seq": seq}
    put_lines(path, [canonical(data)])
    refused(path, "line 1")


# -- a torn last line ----------------------------------------------------------------


def test_a_torn_last_line_is_ignored_then_truncated_by_the_next_append(
    plan: tuple[Path, list[str]],
) -> None:
    path, ids = plan
    decide(path, ids[:1])
    good = ledger.ledger_path(path).read_bytes()
    decide(path, ids[1:2], "rejected")
    whole = ledger.ledger_path(path).read_bytes()
    torn = whole[: len(good) + (len(whole) - len(good)) // 2]
    ledger.ledger_path(path).write_bytes(torn)
    assert states(path)[:2] == ["approved", "pending"]
    # the whole second line but its newline: still never acknowledged, never trusted
    ledger.ledger_path(path).write_bytes(whole[:-1])
    assert states(path)[:2] == ["approved", "pending"]
    decide(path, ids[2:3], "rejected")
    lines = raw_lines(path)
    assert len(lines) == 2 and ledger.ledger_path(path).read_bytes().endswith(b"\n")
    assert orjson.loads(lines[1])["prev"] == ledger.line_hash(lines[0])
    assert states(path)[:3] == ["approved", "pending", "rejected"]


def test_a_torn_line_after_a_broken_chain_is_not_repaired(plan: tuple[Path, list[str]]) -> None:
    """The next append checks the chain first: a broken ledger is refused, not extended."""
    path, ids = plan
    decide(path, ids[:1])
    decide(path, ids[1:2])
    first, second = raw_lines(path)
    ledger.ledger_path(path).write_bytes(second + b"\n" + first[:10])
    before = ledger.ledger_path(path).read_bytes()
    with pytest.raises(InputError, match="hash chain is broken"):
        decide(path, ids[2:3])
    assert ledger.ledger_path(path).read_bytes() == before


# -- links ---------------------------------------------------------------------------


def test_a_ledger_that_is_a_symbolic_link_is_refused(
    plan: tuple[Path, list[str]], tmp_path: Path
) -> None:
    """plan approve refused to write through it, but every reader followed it
    (and a FIFO there would hang apply): readers refuse it too."""
    path, ids = plan
    elsewhere = tmp_path / "elsewhere.jsonl"
    decide(path, ids[:1])
    ledger.ledger_path(path).rename(elsewhere)
    ledger.ledger_path(path).symlink_to(elsewhere)
    with pytest.raises(InputError, match="symbolic link") as caught:
        decide(path, ids[1:2])
    assert "\n" not in str(caught.value)
    refused(path, "symbolic link")
    assert len(elsewhere.read_bytes().splitlines()) == 1
    ledger.ledger_path(path).unlink()
    os.mkfifo(ledger.ledger_path(path))
    refused(path, "not a plain file")


def test_a_ledger_with_a_hard_link_is_not_appended_to(
    plan: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, ids = plan
    decide(path, ids[:1])
    os.link(ledger.ledger_path(path), tmp_path / "other-name")
    with pytest.raises(InputError, match="hard link"):
        decide(path, ids[1:2])
    assert len(raw_lines(path)) == 1


def test_a_plan_reached_through_a_symbolic_link_has_one_ledger(
    plan: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, ids = plan
    alias = tmp_path / "alias.jsonl"
    alias.symlink_to(path)
    decide(alias, ids[:1])
    assert ledger.ledger_path(alias) == ledger.ledger_path(path)
    assert states(path)[0] == "approved"


# -- processes at once ---------------------------------------------------------------


def test_concurrent_plan_approve_processes_each_land_chained(
    plan: tuple[Path, list[str]],
) -> None:
    """Three `plan approve` processes at once (the process boundary is the point):
    every line lands, in some order, each chained to the one before."""
    path, ids = plan
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "recondiff",
                "plan",
                "approve",
                str(path),
                "--event",
                event,
                "--by",
                f"approver{i}",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i, event in enumerate(ids[:3])
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    lines = ledger.read(path, read_header(path))
    assert sorted(line.ids[0] for line in lines) == sorted(ids[:3])
    assert [line.seq for line in lines] == [1, 2, 3]
    assert states(path) == ["approved", "approved", "approved", "auto"]


# -- who decided ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "by",
    ["alice\nbob", "alice\rbob", "\x1b[31malice", "alice\x00", "alice\u2028bob", "alice\x85"],
    ids=["LF", "CR", "ESC", "NUL", "LS", "NEL"],
)
def test_an_approver_name_with_control_characters_is_refused(
    plan: tuple[Path, list[str]], by: str
) -> None:
    """`by` goes to the ledger, the history's exceptions and every listing of them:
    one printable line, as a trusted key's name must be."""
    path, ids = plan
    result = CliRunner().invoke(cli, ["plan", "approve", str(path), "--event", ids[0], "--by", by])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert not ledger.ledger_path(path).exists()
    with pytest.raises(InputError):
        ledger.append(path, read_header(path), ledger.Entry("approved", ids[:1], by))
    decide(path, ids[:1])  # a hand-written line with it is refused by readers too
    data = orjson.loads(raw_lines(path)[0]) | {"by": by}
    put_lines(path, [canonical(data)])
    refused(path, "line 1", "by")


def test_a_sheet_with_a_bad_approver_on_a_later_row_writes_nothing(
    plan: tuple[Path, list[str]], tmp_path: Path
) -> None:
    """import-decisions refuses the whole sheet on any fault: a name with a line
    break in the second group's by cell used to fail after the first group's line
    was appended (half a sheet in the ledger)."""
    path, _ = plan
    sheet = tmp_path / "decisions.csv"
    review.export_decisions(path, sheet)
    text = sheet.read_text("utf-8-sig").splitlines()
    columns = DECISION_COLUMNS
    rows = list(csv.reader(io.StringIO("\n".join(text))))
    assert rows[0] == list(columns)
    decision, by = columns.index("decision"), columns.index("by")
    rows[1][decision], rows[1][by] = "approved", "alice"
    rows[2][decision], rows[2][by] = "approved", "bob\nthe builder"
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    sheet.write_text(buffer.getvalue(), "utf-8")
    with pytest.raises(InputError) as caught:
        review.import_decisions(path, sheet)
    assert "\n" not in str(caught.value)
    assert not ledger.ledger_path(path).exists()


# -- size ----------------------------------------------------------------------------


def test_a_decision_of_100000_ids_is_one_line_read_back_and_folded(tmp_path: Path) -> None:
    path = tmp_path / "plan.jsonl"
    write(path)
    header = read_header(path)
    ids = [f"ev-{i:016x}" for i in range(100_000)]
    started = time.perf_counter()
    line = ledger.append(path, header, ledger.Entry("approved", ids, "alice", "--all"))
    lines = ledger.read(path, header)
    assert [x.ids for x in lines] == [line.ids] and len(line.ids) == 100_000
    stream = (
        {"id": i, "approval": {"required": True, "state": "pending", "by": None}} for i in ids
    )
    decisions = ledger.Decisions(lines, "ledger")
    assert sum(decisions.apply(e)["approval"]["state"] == "approved" for e in stream) == 100_000
    decisions.finish()
    assert time.perf_counter() - started < 10


def cheap_plan(path: Path, n: int) -> list[str]:
    """A plan of ``n`` pending events written straight (no per-event schema check)."""
    template = modify_title(JDOE, "Engineer", "Lead Engineer", state="pending")
    ids = [f"ev-{i:016x}" for i in range(n)]
    plan = make_plan([template | {"id": i} for i in ids])
    plan["counts"] = counts(plan["events"])
    plan["digest"] = digest_of(plan)
    path.write_bytes(dumps(plan))
    return ids


def test_deciding_many_ids_by_event_costs_about_one_read_of_the_plan(tmp_path: Path) -> None:
    """decide_file looked each event's id up in the list of wanted ids (n x m):
    20,000 ids took seconds more than reading the plan; 100,000 over a minute."""
    path = tmp_path / "plan.jsonl"
    ids = cheap_plan(path, 20_000)
    started = time.perf_counter()
    verify(path)
    read = time.perf_counter() - started
    started = time.perf_counter()
    assert len(review.decide_file(path, ids, "approved", "alice")) == 20_000
    decided = time.perf_counter() - started
    assert decided < 2.5 * read + 0.5, (decided, read)


# -- the plan file, re-sealed by hand ------------------------------------------------


def resealed(path: Path, edit: Any) -> None:
    """Edit the plan's events as dicts, then write it with a correct digest, bypassing
    the writer's checks (what anyone who can write the file can do)."""
    plan = load_plan(path, decisions=False)
    edit(plan["events"])
    plan.pop("signature", None)
    plan["digest"] = digest_of(plan)
    path.write_bytes(dumps(plan))


def plan_refused(path: Path, *words: str) -> None:
    with pytest.raises(InputError) as caught:
        verify(path)
    assert "\n" not in str(caught.value)
    for word in words:
        assert word in str(caught.value), str(caught.value)


def test_a_resealed_event_with_an_extra_key_is_refused(plan: tuple[Path, list[str]]) -> None:
    path, _ = plan
    resealed(path, lambda evs: evs[0].update(run_as="root"))
    plan_refused(path, "line 2", "not a valid recondiff plan")


def test_a_resealed_event_approved_in_the_file_is_refused(plan: tuple[Path, list[str]]) -> None:
    path, _ = plan

    def approve(evs: list[dict[str, Any]]) -> None:
        evs[1]["approval"].update(state="approved", by="cab", at="2026-11-23T13:00:00+00:00")

    resealed(path, approve)
    plan_refused(path, "line 3")


def test_a_resealed_repeated_event_id_is_refused(plan: tuple[Path, list[str]]) -> None:
    path, _ = plan
    resealed(path, lambda evs: evs.append(dict(evs[0])))
    plan_refused(path, "line 6", "appears twice")


def test_a_resealed_event_whose_id_is_not_its_content_still_reads(
    plan: tuple[Path, list[str]],
) -> None:
    """Ids are not re-derived on read: only the digest and its signature bind an
    event's content (tests/test_signed_apply.py refuses the re-sealed plan)."""
    path, ids = plan
    resealed(path, lambda evs: evs[0]["changes"][1].update(values=["Administrator"]))
    assert event_id("endpoint", "modify", load_plan(path)["events"][0]["object"], []) != ids[0]
    assert [e["id"] for e in load_plan(path)["events"]] == ids


@pytest.mark.parametrize(
    ("mangle", "words"),
    [
        (lambda b: b.replace(b"\n", b"\r\n"), ("digest",)),
        (lambda b: b"\xef\xbb\xbf" + b, ("line 1", "not JSON")),
        (lambda b: b + b"\n", ("line 6", "not JSON")),
        (lambda b: b[:-1], ("line 5", "cut short")),
        (lambda b: b"", ("empty",)),
    ],
    ids=["crlf", "bom", "empty-last-line", "no-final-newline", "empty-file"],
)
def test_a_mangled_plan_file_is_refused_with_one_line(
    plan: tuple[Path, list[str]], mangle: Any, words: tuple[str, ...]
) -> None:
    path, _ = plan
    path.write_bytes(mangle(path.read_bytes()))
    plan_refused(path, *words)


def test_huge_lines_are_read_or_refused_with_one_line(plan: tuple[Path, list[str]]) -> None:
    path, _ = plan
    big = "x" * (8 << 20)
    resealed(path, lambda evs: evs[0]["changes"][1].update(values=[big]))
    assert load_plan(path)["events"][0]["changes"][1]["values"] == [big]
    path.write_bytes(path.read_bytes() + b'{"id":"' + b"y" * (8 << 20) + b'"}\n')
    plan_refused(path, "line 6")
    path.write_bytes(b"[" * 100_000 + b"\n")
    plan_refused(path, "line 1")


@pytest.mark.parametrize(
    "field",
    [
        {"ids": ["ev-0123\nrecondiff: all decisions verified"]},
        {"ids": ["\x1b]0;owned\x07"]},
        {"plan": "sha256:\x1b[2J\nrecondiff: ok"},
    ],
    ids=["id-with-newline", "id-with-escape", "plan-with-escape"],
)
def test_a_hand_written_line_cannot_write_to_the_terminal(
    plan: tuple[Path, list[str]], field: dict[str, Any]
) -> None:
    """What a ledger line holds is the writer's: the refusal that quotes it is one
    line with its control characters escaped (plan show prints it as it is)."""
    path, ids = plan
    decide(path, ids[:1])
    data = orjson.loads(raw_lines(path)[0]) | field
    put_lines(
        path,
        rechained([data], read_header(path)["digest"]) if "ids" in field else [canonical(data)],
    )
    result = CliRunner().invoke(cli, ["plan", "show", str(path)])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.strip().isprintable(), result.stderr


def test_a_ledger_replaced_while_an_append_waits_for_the_lock_is_not_written(
    plan: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file was checked to be the one at the ledger's name before the lock was
    taken: one renamed over it while this append waited (another process rotating
    it) got the decision, acknowledged, in a file no reader opens."""
    path, ids = plan
    decide(path, ids[:1])
    name = ledger.ledger_path(path)
    moved = name.with_name("rotated.jsonl")
    real = ledger.fcntl.flock

    def rotate_then_lock(fd: int, operation: int) -> None:
        name.rename(moved)
        name.write_bytes(b"")
        monkeypatch.setattr(ledger.fcntl, "flock", real)
        real(fd, operation)

    monkeypatch.setattr(ledger.fcntl, "flock", rotate_then_lock)
    with pytest.raises(InputError, match="replaced while it was opened"):
        decide(path, ids[1:2])
    assert len(moved.read_bytes().splitlines()) == 1


def test_plan_approve_on_a_ledger_that_is_a_fifo_is_refused_not_hung(
    plan: tuple[Path, list[str]],
) -> None:
    path, ids = plan
    os.mkfifo(ledger.ledger_path(path))

    def hung(signum: int, frame: Any) -> None:
        raise TimeoutError("plan approve hung on a FIFO")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(5)
    try:
        with pytest.raises(InputError, match="not a plain file"):
            ledger.append(path, read_header(path), ledger.Entry("approved", ids[:1], "alice"))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
