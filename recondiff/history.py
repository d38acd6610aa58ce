"""Run history: an embedded DuckDB file beside the outputs (or in ``--state DIR``).

Every finished compare records its run, the keys of its findings (each with
the time it was first seen) and the identity -> account ownerships it saw (the
latest run's only, in ``history-owners-<config>.parquet`` beside the file: a
copy of the directory's pairs, cheaper to write as Parquet than to insert).
The next run of the same config (same endpoint and repository names) reads
them to tell what is new, resolved and persisting, how old each finding is,
and which unmatched account belonged to an identity that has since vanished
(``queries/classify/vanished.sql``). SQL in ``queries/history/``.

It also keeps the reviewers' persistent decisions: ``exceptions``, each an
accept or reject of one finding (recondiff/plan/findings.py), recorded from a
plan's decisions ledger (:meth:`History.record_exceptions`), loaded by the next
compare of the same config (:meth:`History.active_exceptions`), listed and
revoked by ``recondiff exceptions``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from recondiff.errors import InputError, first_line, no_space, printable
from recondiff.io.sqlfiles import Step, fetch_dicts, load, macros

HISTORY_FILE = "history.duckdb"


def history_path(outdir: Path, state_dir: Path | None) -> Path:
    """``--state DIR`` or, by default, the output directory."""
    return (state_dir if state_dir is not None else outdir) / HISTORY_FILE


def config_key(endpoint_name: str, repository_name: str) -> str:
    return f"{endpoint_name}|{repository_name}"


@dataclass(frozen=True)
class PreviousRun:
    run_id: str
    finished_at: datetime
    findings: Path  # a Parquet file (History.previous)
    owners: Path | None  # its ownerships (run_id, identity_key, endpoint_key), if kept
    summary: dict[str, Any] | None = None  # its summary.json (None if unreadable)


@dataclass(frozen=True)
class RunFiles:
    """What a compare's own connection wrote of its run, in its work directory, for
    :meth:`History.record`: its findings and (incremental) delta, from the staged
    situations table that situations.parquet was written from, and its
    ownerships file as it will lie beside the history. The history reads these,
    never situations.parquet."""

    run_id: str
    findings: Path
    delta: Path
    owners: Path


def stage_findings(step: Step, incremental: bool) -> None:
    """On compare's connection: this run's findings (``run_findings``) and, in an
    incremental run, the accounts it judged (``run_delta``), from the staged
    situations table (``situations_out``); the report reads them too."""
    step("history/run_findings", {})
    step("history/run_delta", {"incremental": incremental})


def write_run_files(
    step: Step, work: Path, run_id: str, incremental: bool, previous: PreviousRun | None
) -> RunFiles:
    """On compare's connection, after :func:`stage_findings`: the files
    :meth:`History.record` records, written into ``work``."""
    files = RunFiles(
        run_id,
        work / "run-findings.parquet",
        work / "run-delta.parquet",
        work / "run-owners.parquet",
    )
    step("history/write_findings", {"path": str(files.findings)})
    step("history/write_delta", {"path": str(files.delta)})
    owners = {"run_id": run_id, "path": str(files.owners)}
    if incremental and previous is not None and previous.owners is not None:
        step(
            "history/record_owners_carried",
            owners | {"previous_path": str(previous.owners), "previous_run_id": previous.run_id},
        )
    else:
        step("history/record_owners", owners)
    return files


# --- persistent decisions (exceptions) ---------------------------------------------

CLOCK_VARIABLE = "RECONDIFF_NOW"
"""An ISO 8601 time that replaces the clock exceptions expire by (tests, dry runs)."""

PERSISTENT = ("accepted", "rejected")
"""The ledger decisions recorded as exceptions."""


def exceptions_clock(default: datetime) -> datetime:
    """The time exceptions are judged at: ``RECONDIFF_NOW`` when set, else
    ``default`` (a compare's start time, or now)."""
    text = os.environ.get(CLOCK_VARIABLE, "").strip()
    if not text:
        return default
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{CLOCK_VARIABLE}={text!r} is not an ISO 8601 time like 2026-11-23T08:00:00Z"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def clock_warning() -> str | None:
    """A warning when ``RECONDIFF_NOW`` replaces the clock: left set by mistake
    (a test's, a dry run's), it keeps expired exceptions active, or ends live ones."""
    text = os.environ.get(CLOCK_VARIABLE, "").strip()
    if not text:
        return None
    return (
        f"{CLOCK_VARIABLE}={printable(text[:40])} replaces the clock exceptions expire by "
        "(unset it unless this run is a test or a dry run)"
    )


@dataclass(frozen=True)
class Harvest:
    """What :meth:`History.record_exceptions` did: the config the plan was written
    for (None: no run of this history wrote it, nothing recorded) and how many
    exceptions were added (0 when the ledger was harvested before); ``foreign``:
    the config of the run that wrote the plan when it is not the one expected
    (nothing recorded)."""

    config_key: str | None
    added: int
    foreign: str | None = None


class _Exceptions:
    """The exception methods of :class:`History` (a mixin: same file, same lock)."""

    path: Path

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        raise NotImplementedError

    def record_exceptions(
        self,
        plan_digest: str,
        decided: Iterable[tuple[Mapping[str, Any], Any]],
        *,
        config_key: str | None = None,
    ) -> Harvest:
        """Record the persistent decisions of one plan: ``decided`` pairs each event
        (a plan event dict) with a ledger line deciding it (a mapping or an object
        with the ledger's fields: ``seq``, ``decision``, ``by``, ``comment``,
        ``at``, ``until``). Per event only its last line (highest ``seq``)
        counts; an ``accepted`` or ``rejected`` one adds an exception for each
        finding in the event's ``findings``. Idempotent: keyed by the plan's
        digest, the line's seq and the finding. The config is that of the
        recorded run whose summary names ``plan_digest``; a plan no run of this
        history wrote records nothing (``Harvest(None, 0)``), and so does, when
        ``config_key`` is given, a plan another config's run wrote (its ledger was
        checked against the caller's trust, not that config's:
        ``Harvest(None, 0, foreign=KEY)``)."""
        rows = _exception_rows(plan_digest, decided)
        if not self.path.exists():
            return Harvest(None, 0)
        con = self._connect(read_only=False)
        try:
            found = con.execute(load("history/plan_config"), {"digest": plan_digest}).fetchall()
            if not found:
                return Harvest(None, 0)
            key = str(found[0][0])
            if config_key is not None and key != config_key:
                return Harvest(None, 0, foreign=key)
            con.execute("BEGIN TRANSACTION")
            before = _count(con)
            if rows:
                con.execute(load("history/record_exception"), {"rows": rows, "config_key": key})
            added = _count(con) - before
            con.execute("COMMIT")
        except duckdb.Error as exc:
            raise self._failed("cannot record the decisions", exc) from None
        finally:
            con.close()
        return Harvest(key, added)

    def active_exceptions(self, key: str, now: datetime, path: Path) -> Path | None:
        """Write the exceptions of config ``key`` active at ``now`` to the Parquet
        file ``path`` (history/load_exceptions.sql loads it); None when there is none."""
        if not self.path.exists():
            return None
        con = self._connect(read_only=True)
        try:
            if not con.execute(load("history/has_exceptions")).fetchall()[0][0]:
                return None
            con.execute(
                load("history/active_exceptions"),
                {"config_key": key, "now": now, "path": str(path)},
            )
            rows = con.execute("SELECT count(*) FROM read_parquet($p)", {"p": str(path)})
            return path if rows.fetchall()[0][0] else None
        except duckdb.Error as exc:
            raise self._failed("cannot read the exceptions", exc) from None
        finally:
            con.close()

    def exceptions(
        self, now: datetime, *, key: str | None = None, everything: bool = False
    ) -> list[dict[str, Any]]:
        """Recorded exceptions, newest first, each with its ``state`` at ``now``
        (active, expired, revoked): only the active ones unless ``everything``."""
        if not self.path.exists():
            return []
        con = self._connect(read_only=True)
        try:
            if not con.execute(load("history/has_exceptions")).fetchall()[0][0]:
                return []
            rows = fetch_dicts(
                con.execute(
                    load("history/exceptions"),
                    {"config_key": key, "now": now, "all": everything},
                )
            )
        except duckdb.Error as exc:
            raise self._failed("cannot read the exceptions", exc) from None
        finally:
            con.close()
        for row in rows:
            row["shown"] = json.loads(row["shown"])
        return rows

    def revoke_exception(
        self, exception_id: str, by: str, reason: str | None, at: datetime
    ) -> None:
        """Mark one exception revoked (kept, with who, when and why). Raises
        :class:`InputError` for an unknown or already revoked exception."""
        if not by.strip():
            raise InputError("revoking an exception needs the reviewer's name (--by NAME)")
        if not by.isprintable():  # recorded and quoted back, as a ledger's by
            raise InputError(
                "--by must be one line of printable characters (no control characters)"
            )
        if not self.path.exists():
            raise InputError(f"{self.path}: no run history here; pass --state DIR")
        con = self._connect(read_only=False)
        try:
            done = con.execute(
                load("history/revoke_exception"),
                {"exception_id": exception_id, "by": by, "reason": reason or None, "at": at},
            ).fetchall()
            if not done:
                known = con.execute(
                    "SELECT revoked_by FROM exceptions WHERE exception_id = $id",
                    {"id": exception_id},
                ).fetchall()
        except duckdb.Error as exc:
            raise self._failed("cannot revoke the exception", exc) from None
        finally:
            con.close()
        if not done:
            if known:
                shown, revoked_by = printable(exception_id), printable(str(known[0][0]))
                raise InputError(f"{shown}: already revoked (by {revoked_by})")
            raise InputError(
                f"{printable(exception_id)}: no such exception in {self.path}; "
                "recondiff exceptions list --all shows them"
            )

    def _failed(self, what: str, exc: BaseException) -> InputError:
        if "interrupted" in str(exc).lower():
            raise KeyboardInterrupt from None
        first = "no space left on device" if no_space(exc) else first_line(exc)
        return InputError(f"{self.path}: {what} ({first})")


def _count(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("SELECT count(*) FROM exceptions").fetchall()[0][0])


def _field(line: Any, name: str) -> Any:
    """A ledger line's field, whether the line is a mapping or an object."""
    if isinstance(line, Mapping):
        return line.get(name)
    return getattr(line, name, None)


def _exception_rows(
    plan_digest: str, decided: Iterable[tuple[Mapping[str, Any], Any]]
) -> list[dict[str, Any]]:
    """The exception rows of the last persistent decision of each event."""
    last: dict[str, tuple[Mapping[str, Any], Any]] = {}
    for event, line in decided:
        seen = last.get(event["id"])
        if seen is None or int(_field(line, "seq")) >= int(_field(seen[1], "seq")):
            last[event["id"]] = (event, line)
    rows: list[dict[str, Any]] = []
    for event, line in last.values():
        decision = _field(line, "decision")
        if decision not in PERSISTENT:
            continue
        by = str(_field(line, "by") or "").strip()
        if not by or not _field(line, "at"):
            raise InputError(
                f"{plan_digest}: ledger line {_field(line, 'seq')} lacks 'by' or 'at'"
            )
        findings = event.get("findings") or []
        for i, finding in enumerate(findings):
            rows.append(
                _exception_row(plan_digest, event, line, finding, _shown(event, findings, i))
                | {"decision": decision, "decided_by": by}
            )
    return rows


def _exception_row(
    plan_digest: str, event: Mapping[str, Any], line: Any, finding: Mapping[str, Any],
    shown: dict[str, Any],
) -> dict[str, Any]:
    obj = event["object"]
    seq = int(_field(line, "seq"))
    seed = f"{plan_digest}\x1e{seq}\x1e{finding['key']}".encode()
    return {
        "exception_id": "ex-" + hashlib.sha256(seed).hexdigest()[:16],
        "finding_key": finding["key"],
        "account": obj.get("key") or (obj.get("member_of") or {}).get("key")
        or obj.get("identity_key"),
        "identity_key": obj.get("identity_key"),
        "situation": event["reason"]["situation"],
        "attribute": finding.get("attribute"),
        "shown": json.dumps(shown, ensure_ascii=False, sort_keys=True),
        "reason": _field(line, "comment") or None,
        "decided_at": _iso(_when_of(_field(line, "at"), "at")),
        "until": _iso(_when_of(_field(line, "until"), "until")),
        "source_plan": plan_digest,
        "source_seq": seq,
    }


def _shown(event: Mapping[str, Any], findings: list[Any], i: int) -> dict[str, Any]:
    """What the reviewer saw of finding ``i``: its drift row (an event's drift
    rows and findings are in the same order), or for the account the event."""
    drift = event["reason"].get("drift") or []
    if findings[i].get("attribute") is None or len(drift) != len(findings):
        return {
            "event": event["id"],
            "operation": event["operation"],
            "target": event["target"],
            "dn": event["object"].get("dn"),
        }
    row = drift[i]
    return {
        "event": event["id"],
        "kind": row.get("kind"),
        "endpoint_value": row.get("endpoint_value"),
        "repository_value": row.get("repository_value"),
    }


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()


def _when_of(value: Any, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"ledger: {name} {value!r} is not an ISO 8601 time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class History(_Exceptions):
    """One history file. Each method opens it for just as long as it needs."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        created = not read_only and not self.path.exists()
        try:
            if not read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            con = duckdb.connect(str(self.path), read_only=read_only)
        except (duckdb.Error, OSError) as exc:
            raise self._cannot_open(exc, created) from None
        try:
            con.execute("SET TimeZone = 'UTC'")
            if not read_only:  # recording needs rd_key/rd_finding; reading needs no macro
                con.execute(macros())
                con.execute(load("history/schema"))
                con.execute(load("history/schema_assignments"))
                con.execute(load("history/schema_explores"))
        except duckdb.InterruptException:
            con.close()
            raise KeyboardInterrupt from None
        except (duckdb.Error, OSError) as exc:  # a full disk: the schema's commit
            con.close()
            raise self._cannot_open(exc, created) from None
        except BaseException:
            con.close()
            raise
        return con

    def _cannot_open(self, exc: BaseException, created: bool) -> InputError:
        """One line for a history that cannot be opened. A history file this
        run was creating is removed: a disk that filled up while DuckDB wrote it
        left a stub that every later run refused as broken."""
        if created:
            for stub in (self.path, self.path.with_name(self.path.name + ".wal")):
                stub.unlink(missing_ok=True)
        if no_space(exc):
            return InputError(
                f"{self.path}: cannot write the run history (no space left on device); "
                "free some space (or pass --state DIR for another place) and run again"
            )
        return InputError(
            f"{self.path}: cannot open the run history ({first_line(exc)}); another recondiff "
            "may be using it, or pass --state DIR for another place"
        )

    def previous(self, key: str, findings: Path) -> PreviousRun | None:
        """The latest recorded run of this config, or None. Its findings
        (finding_key, situation, sync, endpoint_key, identity_key, first_seen)
        are written to the Parquet file ``findings`` for compare's connection to
        load (queries/history/load_findings.sql)."""
        if not self.path.exists():
            return None
        con = self._connect(read_only=True)
        try:
            con.execute(load("history/schema_check")).fetchall()
            rows = con.execute(load("history/previous_run"), {"config_key": key}).fetchall()
            if not rows:
                return None
            run_id, finished_us, summary_text = rows[0]
            con.execute(
                load("history/previous_findings"), {"run_id": run_id, "path": str(findings)}
            )
        except duckdb.InterruptException:
            raise KeyboardInterrupt from None
        except duckdb.IOException as exc:
            first = first_line(exc)
            raise InputError(
                f"{findings.parent}: cannot write the previous run's findings ({first})"
            ) from None
        except duckdb.Error as exc:
            first = first_line(exc)
            raise InputError(
                f"{self.path}: not a recondiff run history ({first}); "
                "move it away or pass --state DIR"
            ) from None
        finally:
            con.close()
        owners = self.owners_path(key)
        return PreviousRun(
            str(run_id),
            _from_us(finished_us),
            findings,
            owners if owners.exists() else None,
            _summary(summary_text),
        )

    def owners_path(self, key: str) -> Path:
        """The Parquet file of the latest run's ownerships of config ``key``."""
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
        return self.path.with_name(f"{self.path.stem}-owners-{digest}.parquet")

    def record(
        self,
        *,
        run_id: str,
        key: str,
        config_path: Path,
        outdir: Path,
        summary: dict[str, Any],
        files: RunFiles,
        previous: PreviousRun | None,
    ) -> None:
        """Add a finished run (one transaction), and replace the config's ownerships
        file once it is committed (a run_id column ties the file to its run).
        ``files``: what the run's connection wrote of it (:func:`write_run_files`)."""
        owners = self.owners_path(key)
        owners_temp = owners.with_name(f".{owners.name}.tmp")
        con = self._connect(read_only=False)
        try:
            con.execute("BEGIN TRANSACTION")
            _insert_run(con, run_id, key, config_path, outdir, summary)
            _insert_findings(con, run_id, summary, files, previous)
            shutil.copyfile(files.owners, owners_temp)
            con.execute("COMMIT")
            os.replace(owners_temp, owners)
        except duckdb.InterruptException:
            raise KeyboardInterrupt from None
        except (duckdb.Error, OSError) as exc:
            if "interrupted" in str(exc).lower():
                raise KeyboardInterrupt from None
            first = "no space left on device" if no_space(exc) else first_line(exc)
            raise InputError(
                f"{self.path}: the results are written, but the run history could not be "
                f"updated ({first})"
            ) from None
        finally:
            con.close()
            owners_temp.unlink(missing_ok=True)

    def runs(self, key: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Recorded runs, newest first (of one config when ``key`` is given)."""
        if not self.path.exists():
            return []
        con = self._connect(read_only=True)
        try:
            rows = fetch_dicts(
                con.execute(load("history/runs"), {"config_key": key, "limit": limit})
            )
        except duckdb.Error as exc:
            first = first_line(exc)
            raise InputError(f"{self.path}: not a recondiff run history ({first})") from None
        finally:
            con.close()
        for r in rows:
            r["summary"] = json.loads(r["summary"])
            r["started_at"] = _from_us(r.pop("started_us"))
            r["finished_at"] = _from_us(r.pop("finished_us"))
        return rows


    # --- explores: the high-water marks of incremental runs (docs/explore.md) ----------

    def last_explore(self, source_key: str, change_attribute: str) -> dict[str, Any] | None:
        """The newest recorded explore of a source that has a high-water mark, or None."""
        if not self.path.exists():
            return None
        con = self._connect(read_only=True)
        try:
            listed = con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
            if "explores" not in {t for (t,) in listed}:
                return None
            rows = fetch_dicts(
                con.execute(
                    load("history/last_explore"),
                    {"source_key": source_key, "change_attribute": change_attribute},
                )
            )
        except duckdb.Error as exc:
            raise self._failed("cannot read the explores", exc) from None
        finally:
            con.close()
        if not rows:
            return None
        row = rows[0]
        row["explored_at"] = _from_us(row.pop("explored_us"))
        return row

    def record_explore(self, row: Mapping[str, Any]) -> None:
        """Add one successful explore (queries/history/schema_explores.sql names the fields)."""
        con = self._connect(read_only=False)
        try:
            con.execute(load("history/record_explore"), dict(row))
        except duckdb.Error as exc:
            raise self._failed("cannot record the explore", exc) from None
        finally:
            con.close()

    # --- reviewer assignments (docs/plan.md, Owners) ---------------------------------

    def record_assignments(self, key: str, rows: Sequence[Assignment]) -> None:
        """Add reviewer assignments harvested from a decisions ledger (one
        transaction; a row already recorded, by plan digest, ledger line and
        event, is kept as it is)."""
        if not rows:
            return
        con = self._connect(read_only=False)
        try:
            con.execute(
                load("history/record_assignments"),
                {"config_key": key, "rows": [asdict(r) for r in rows]},
            )
        except duckdb.Error as exc:
            raise InputError(
                f"{self.path}: cannot record the reviewer assignments ({first_line(exc)})"
            ) from None
        finally:
            con.close()

    def settle_assignments(
        self, key: str, pairs: Sequence[Mapping[str, Any]], at: datetime
    ) -> None:
        """Mark settled the assignments of config ``key`` whose link a run saw the
        repository hold itself (``pairs``: ``endpoint_key``, ``identity_key``), and
        the earlier ones of the same account or identity: the identity system
        imported the link, and the repository speaks for it from now on (a link it
        later drops is not put back by an old choice)."""
        if not pairs:
            return
        con = self._connect(read_only=False)
        try:
            con.execute(
                load("history/settle_assignments"),
                {"config_key": key, "at": at, "pairs": [dict(p) for p in pairs]},
            )
        except duckdb.Error as exc:
            raise InputError(
                f"{self.path}: cannot settle the reviewer assignments ({first_line(exc)})"
            ) from None
        finally:
            con.close()

    def assignments(self, key: str, path: Path) -> Path | None:
        """This config's reviewer assignments written to the Parquet file ``path``
        (for compare's connection: classify/assigned_links.sql), or None when there
        is none (or the history predates them)."""
        if not self.path.exists():
            return None
        con = self._connect(read_only=True)
        try:
            listed = con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
            tables = {t for (t,) in listed}
            if "assignments" not in tables:
                return None
            if not con.execute(
                "SELECT count(*) FROM duckdb_columns() "
                "WHERE table_name = 'assignments' AND column_name = 'settled_at'"
            ).fetchall()[0][0]:  # a history from before settling: add the column first
                con.close()
                self._connect(read_only=False).close()
                con = self._connect(read_only=True)
            (count,) = con.execute(
                "SELECT count(*) FROM assignments WHERE config_key = $k AND settled_at IS NULL",
                {"k": key},
            ).fetchall()[0]
            if not count:
                return None
            con.execute(load("history/assignments"), {"config_key": key, "path": str(path)})
        except duckdb.Error as exc:
            raise InputError(
                f"{self.path}: cannot read the reviewer assignments ({first_line(exc)})"
            ) from None
        finally:
            con.close()
        return path


@dataclass(frozen=True)
class Assignment:
    """One reviewer assignment: ``identity_key`` owns the account ``endpoint_key``
    (whose entryUUID/objectGUID the plan saw, if exported), chosen in the
    decisions ledger line ``seq`` of the plan ``plan_digest`` for ``event_id``."""

    plan_digest: str
    seq: int
    event_id: str
    endpoint_key: str
    endpoint_uuid: str | None
    identity_key: str
    assigned_by: str | None
    assigned_at: datetime
    comment: str | None


def _insert_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    key: str,
    config_path: Path,
    outdir: Path,
    summary: dict[str, Any],
) -> None:
    run = summary["run"]
    con.execute(
        load("history/record_run"),
        {
            "run_id": run_id,
            "config_key": key,
            "config_path": str(config_path),
            "outdir": str(outdir),
            "started_at": datetime.fromisoformat(run["started_at"]),
            "finished_at": datetime.fromisoformat(run["finished_at"]),
            "summary": json.dumps(summary, ensure_ascii=False),
        },
    )


def _insert_findings(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    summary: dict[str, Any],
    files: RunFiles,
    previous: PreviousRun | None,
) -> None:
    """The run's findings (each first seen when the previous run had it, else
    now). An incremental run (its endpoint snapshot holds only the changed
    accounts) carries the previous run's findings of every account not in it
    over unchanged (docs/explore.md, "History across an incremental run"); its
    ownerships file (``files.owners``) carries them likewise."""
    con.execute(
        load("history/record_findings"),
        {
            "run_id": run_id,
            "findings": str(files.findings),
            "delta": str(files.delta),
            "previous_run_id": previous.run_id if previous else None,
            "finished_at": datetime.fromisoformat(summary["run"]["finished_at"]),
            "incremental": bool(summary["run"].get("incremental")),
        },
    )


def _summary(text: object) -> dict[str, Any] | None:
    try:
        summary = json.loads(str(text))
    except ValueError:
        return None
    return summary if isinstance(summary, dict) else None


def _from_us(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, UTC)

