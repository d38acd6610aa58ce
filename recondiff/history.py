"""Run history: an embedded DuckDB file beside the outputs (or in ``--state DIR``).

Every finished compare records its run, the keys of its findings (each with
the time it was first seen) and the identity -> account ownerships it saw (the
latest run's only, in ``history-owners-<config>.parquet`` beside the file: a
copy of the directory's pairs, cheaper to write as Parquet than to insert).
The next run of the same config (same endpoint and repository names) reads
them to tell what is new, resolved and persisting, how old each finding is,
and which unmatched account belonged to an identity that has since vanished
(``queries/classify/vanished.sql``). SQL in ``queries/history/``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from recondiff.errors import InputError, first_line, no_space
from recondiff.io.sqlfiles import fetch_dicts, load, macros

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


class History:
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
        situations_parquet: Path,
        previous: PreviousRun | None,
    ) -> None:
        """Add a finished run (one transaction), and replace the config's ownerships
        file once it is committed (a run_id column ties the file to its run)."""
        owners = self.owners_path(key)
        owners_temp = owners.with_name(f".{owners.name}.tmp")
        con = self._connect(read_only=False)
        try:
            con.execute("BEGIN TRANSACTION")
            _insert_run(con, run_id, key, config_path, outdir, summary)
            _insert_findings(con, run_id, summary, situations_parquet, previous, owners_temp)
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
            (count,) = con.execute(
                "SELECT count(*) FROM assignments WHERE config_key = $k", {"k": key}
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
    situations_parquet: Path,
    previous: PreviousRun | None,
    owners: Path,
) -> None:
    """The run's findings (each first seen when the previous run had it, else
    now), and its ownerships written to ``owners``."""
    common = {"run_id": run_id, "situations_parquet": str(situations_parquet)}
    con.execute(
        load("history/record_findings"),
        common
        | {
            "previous_run_id": previous.run_id if previous else None,
            "finished_at": datetime.fromisoformat(summary["run"]["finished_at"]),
        },
    )
    con.execute(load("history/record_owners"), common | {"path": str(owners)})


def _summary(text: object) -> dict[str, Any] | None:
    try:
        summary = json.loads(str(text))
    except ValueError:
        return None
    return summary if isinstance(summary, dict) else None


def _from_us(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, UTC)
