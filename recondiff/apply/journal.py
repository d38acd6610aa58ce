"""The journal of an apply: ``PLAN.journal.jsonl`` and its ``JOURNAL.lock``.

JSON Lines, one fsynced line per state change of an event (``started``, then
its outcome), so that a re-run resumes: an event recorded in a :data:`FINAL`
outcome is never sent again, one left ``started`` is looked up on the server
(:mod:`recondiff.apply.runner`). ``JOURNAL.lock`` is taken before the journal
is read, so a second apply of the plan stops at once; a file that is not a
journal of this plan is refused, never cut.
"""

from __future__ import annotations

import contextlib
import errno
import getpass
import json
import os
import socket
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from recondiff.errors import InputError
from recondiff.io.atomic import fsync_directory

FINAL = ("applied", "stale", "failed", "in_doubt")
"""Journal outcomes after which an event is never sent again (``in_doubt``: a
membership resumed whose member's memberOf does not agree, left for a human)."""


class JournalError(InputError):
    """The journal cannot be read, belongs to another plan, or is in use."""


def default_journal(plan_path: Path | str) -> Path:
    """``PLAN`` with ``.journal.jsonl`` (``out/plan.jsonl`` -> ``out/plan.journal.jsonl``).

    A plan given by a symbolic link has the journal of the file it names, so
    the plan reached by its link and by its own name has one journal (and one
    lock), not two that each send everything."""
    path = Path(plan_path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    return path.with_suffix(".journal.jsonl")


class Journal:
    """The JSON Lines record of an apply; see the module docstring.

    :meth:`lock` takes ``JOURNAL.lock`` before :meth:`read` reads the journal,
    so two applies of one plan never act on the same reading; :meth:`read`
    refuses a file recondiff did not write, so :meth:`open` never cuts off
    anything but a half-written record of its own.
    """

    def __init__(self, path: Path, plan_id: str, digest: str) -> None:
        # Keyed by the plan id, not its digest: approving more events later
        # changes the digest but not the events, and a re-run with the same
        # journal must still skip what is done (event ids are content hashes).
        self.path = path
        self.plan_id = plan_id
        self.digest = digest
        self.last: dict[str, dict[str, Any]] = {}
        self.done: dict[str, dict[str, Any]] = {}
        """Each event's last ``applied``/``stale``/``failed`` line: never sent again."""
        self._handle: IO[str] | None = None
        self._lock: _Lock | None = None
        self._size = 0
        self._complete = 0

    def _check_kind(self) -> bool:
        """True when the journal exists (as a regular file: else refused)."""
        try:
            info = self.path.lstat()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise JournalError(
                f"{self.path}: cannot read the journal ({exc.strerror or exc})"
            ) from None
        if stat.S_ISLNK(info.st_mode):
            # As for the lock: a link planted in the output directory could
            # make apply create or append to any file of the operator's.
            raise JournalError(
                f"{self.path}: is a symbolic link; recondiff does not follow it (it could "
                "name any file): pass the journal file itself as --journal"
            )
        if not stat.S_ISREG(info.st_mode):
            raise JournalError(
                f"{self.path}: not a regular file; the journal is a file recondiff writes "
                "and resumes from: pass another --journal"
            )
        return True

    def lock(self) -> None:
        """Take the journal's lock (``JOURNAL.lock``), then read the journal."""
        if self._lock is not None:
            return
        self._check_kind()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalError(
                f"{self.path}: cannot write the journal ({exc.strerror or exc})"
            ) from None
        self._lock = _Lock(Path(f"{self.path}.lock"))
        try:
            self._lock.acquire(self.plan_id)
            self.read()
        except BaseException:
            self.close()
            raise

    def read(self) -> None:
        """Read what earlier runs recorded (a dry run reads without the lock)."""
        self.last.clear()
        self.done.clear()
        if not self._check_kind():
            self._size = self._complete = 0
            return
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | _NOFOLLOW)
            with os.fdopen(fd, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise JournalError(
                f"{self.path}: cannot read the journal ({exc.strerror or exc})"
            ) from None
        complete = data.rfind(b"\n") + 1
        for number, raw in enumerate(data[:complete].split(b"\n")[:-1], start=1):
            self._take(number, raw)
        # A last line without its newline was being written when the process died:
        # that state change never completed, so it is ignored (and cut off on append),
        # but only when it is the start of a record: another file is never cut.
        if not _record_start(data[complete:]):
            number = data.count(b"\n") + 1
            raise JournalError(
                f"{self.path}: line {number} is incomplete and not a recondiff "
                "journal record; recondiff does not overwrite a file it did not write: "
                "pass another --journal"
            )
        self._size = len(data)
        self._complete = complete

    def _take(self, number: int, raw: bytes) -> None:
        try:
            record = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: brackets nested too deep
            record = None
        if not isinstance(record, dict):
            raise JournalError(
                f"{self.path}: line {number} is not a recondiff journal record (not a JSON "
                "object); recondiff does not overwrite a file it did not write: "
                "pass another --journal"
            )
        for name, kinds, expected in _RECORD_FIELDS:
            if name not in record:
                raise JournalError(
                    f"{self.path}: line {number} has no {name!r} field, so it is not a record "
                    "recondiff wrote; restore the journal or pass another --journal"
                )
            value = record[name]
            if isinstance(value, bool) or not isinstance(value, kinds):
                raise JournalError(
                    f"{self.path}: line {number}: {name!r} is {_json_kind(value)}, not "
                    f"{expected}, so it is not a record recondiff wrote; restore the journal "
                    "or pass another --journal"
                )
        event, outcome, plan = record["event"], record["outcome"], record["plan"]
        if plan != self.plan_id:
            raise JournalError(
                f"{self.path}: this journal belongs to another plan ({plan}, "
                f"this plan is {self.plan_id}); pass a new --journal for this plan"
            )
        if outcome not in (*FINAL, "started", "skipped"):
            raise JournalError(f"{self.path}: line {number}: unknown outcome {outcome!r}")
        self.last[event] = record
        if outcome in FINAL:
            self.done[event] = record

    def outcome(self, event_id: str) -> str | None:
        record = self.last.get(event_id)
        return None if record is None else str(record["outcome"])

    def open(self) -> None:
        """Lock and read (unless done), open for appending, cut off a half-written last line."""
        self.lock()
        try:
            created = not os.path.lexists(self.path)
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | _NOFOLLOW
            handle = os.fdopen(os.open(self.path, flags, 0o644), "a", encoding="utf-8")
        except OSError as exc:
            raise JournalError(
                f"{self.path}: cannot write the journal ({exc.strerror or exc})"
            ) from None
        # The journal itself is locked too: under another name (a hard link)
        # it has another JOURNAL.lock, but it is the same file.
        try:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not POSIX: no lock
            pass
        except OSError as exc:
            handle.close()
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise JournalError(
                    f"{self.path}: another recondiff apply is using this journal (under "
                    "another name: a link to it); wait for it to finish"
                ) from None
            raise JournalError(
                f"{self.path}: cannot lock the journal ({exc.strerror or exc})"
            ) from None
        size = os.fstat(handle.fileno()).st_size
        if size != self._size:
            handle.close()
            raise JournalError(
                f"{self.path}: the journal changed while recondiff was reading it "
                "(something other than recondiff apply writes it); pass another --journal"
            )
        if self._complete != size:
            handle.truncate(self._complete)
        self._handle = handle
        if created:
            fsync_directory(self.path.parent)

    def record(self, event_id: str, outcome: str, result: int | None, message: str) -> None:
        record = {
            "event": event_id,
            "outcome": outcome,
            "result": result,
            "message": message,
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "plan": self.plan_id,
            "digest": self.digest,
        }
        assert self._handle is not None
        line = json.dumps(record, ensure_ascii=False)
        if not line.isprintable():
            # JSON escapes only C0 controls: DEL, C1 (U+009B is CSI), bidirectional
            # overrides and lone surrogates from directory data are escaped too, so
            # `tail -f` of the journal is as safe on a terminal as apply's output.
            line = "".join(ch if ch.isprintable() else json.dumps(ch)[1:-1] for ch in line)
        try:
            self._handle.write(line + "\n")
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as exc:
            raise JournalError(
                f"{self.path}: cannot write the journal ({exc.strerror or exc})"
            ) from None
        self.last[event_id] = record
        if outcome in FINAL:
            self.done[event_id] = record

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

_RECORD_FIELDS: tuple[tuple[str, type | tuple[type, ...], str], ...] = (
    ("event", str, "a string"),
    ("outcome", str, "a string"),
    ("result", (int, type(None)), "a number or null"),
    ("message", str, "a string"),
    ("at", str, "a string"),
    ("plan", str, "a string"),
    ("digest", str, "a string"),
)
"""Every field :meth:`Journal.record` writes, with the JSON type it has."""

_RECORD_HEAD = b'{"event": "ev-################", "outcome": "'
"""How every record starts (``#``: a hex digit), as ``json.dumps`` writes it."""


def _record_start(tail: bytes) -> bool:
    """Could ``tail`` (a last line without its newline) be a record cut short?

    Empty, the start of a record, or NUL bytes (a file system may leave them
    after a power loss) are; anything else was not written by recondiff.
    """
    text = tail.rstrip(b"\0")
    for got, want in zip(text, _RECORD_HEAD, strict=False):
        if want == ord("#"):
            if got not in b"0123456789abcdef":
                return False
        elif got != want:
            return False
    return True


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


class _Lock:
    """``JOURNAL.lock``: an exclusive ``flock`` for the whole apply, naming its holder.

    The lock is the ``flock`` (the kernel drops it when the process dies, so a
    killed apply never leaves the journal locked); the file's content (pid,
    user, host, start time) only tells a second apply who holds it. It is
    removed while still locked, so a process that opened the old file checks
    that the path still names what it locked, else opens it again.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, plan_id: str) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return
        for _attempt in range(50):
            try:
                flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | _NOFOLLOW
                fd = os.open(self.path, flags, 0o644)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise JournalError(
                        f"{self.path}: is a symbolic link; recondiff does not follow it (it "
                        "could name any file): remove it"
                    ) from None
                raise JournalError(
                    f"{self.path}: cannot create the journal's lock ({exc.strerror or exc})"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _holder(fd)
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise JournalError(
                        f"{self.path}: another recondiff apply is using this journal "
                        f"({holder}); wait for it to finish"
                    ) from None
                raise JournalError(
                    f"{self.path}: cannot lock the journal ({exc.strerror or exc})"
                ) from None
            try:
                now = os.stat(self.path)
            except FileNotFoundError:
                now = None
            mine = os.fstat(fd)
            if now is not None and (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
                break
            os.close(fd)  # removed or replaced by the apply that held it: open it again
        else:  # pragma: no cover - fifty applies ending in turn meanwhile
            raise JournalError(f"{self.path}: cannot take the journal's lock; try again")
        if not stat.S_ISREG(mine.st_mode) or (mine.st_size and _holder_info(fd) is None):
            os.close(fd)
            raise JournalError(
                f"{self.path}: exists and is not a recondiff lock; recondiff does not "
                "overwrite a file it did not write: move it away"
            )
        self._fd = fd
        me = {
            "pid": os.getpid(),
            "user": _user(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
            "plan": plan_id,
        }
        with contextlib.suppress(OSError):  # only informative
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me, ensure_ascii=False).encode("utf-8") + b"\n", 0)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no name for this uid (a container): the number
        return str(os.getuid())


def _holder_info(fd: int) -> dict[str, Any] | None:
    """The lock file's content, when it is what :meth:`_Lock.acquire` writes."""
    try:
        info = json.loads(os.pread(fd, 4096, 0))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("pid"), int):
        return None
    return info


def _holder(fd: int) -> str:
    """Who holds the lock, from the lock file (``pid 123, user@host, since …``)."""
    info = _holder_info(fd)
    if info is None:
        return "holder unknown: its lock file names none yet"
    user, host, since = (str(info.get(k))[:100] for k in ("user", "host", "since"))
    return f"pid {info['pid']}, {user}@{host}, since {since}"
