"""Second reader of the issue 15 refactor (no change of behaviour): config
split, compare as named phases, review package and the CSV convention.

Each test names the hole it closes (it fails on the code before the fix) or
pins behaviour the refactor moved (it passes on 4403822 and now).
"""

from __future__ import annotations

import csv
import errno
import io
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recondiff.compare as compare
from recondiff import review
from recondiff.engine import workdirs
from recondiff.errors import ConfigError, InputError, RecondiffError
from recondiff.history import History
from recondiff.io import csvsafe
from recondiff.io.sqlfiles import macros, query_dir
from recondiff.plan import file as plan_mod
from recondiff.vocabulary import SITUATIONS
from tests.conftest import SAMPLE, SampleRun

# --- situations from the vocabulary (queries/macros/situations.sql) ---------------------


def _bare_connection() -> duckdb.DuckDBPyConnection:
    """A connection with the macros but not opened by engine/confine.open_connection
    (history.py's, a test's, a benchmark's): no rd_situations variable."""
    con = duckdb.connect()
    con.execute(macros())
    return con


@pytest.mark.parametrize(
    ("sql", "right"),
    [
        ("SELECT rd_situations()", list(SITUATIONS)),
        ("SELECT rd_rank('linked')", 1),
        ("SELECT rd_rank('missing')", SITUATIONS.index("missing") + 1),
        ("SELECT rd_situations()[rank] FROM (VALUES (1)) t(rank)", SITUATIONS[0]),
    ],
)
def test_situations_never_come_out_null_on_a_connection_without_the_variable(
    sql: str, right: object
) -> None:
    """Hole: rd_situations() became getvariable('rd_situations'), which only
    engine/confine.open_connection sets. On any other connection with the
    macros (history.py runs them on its own) it was NULL, so every rank was
    NULL and every situation spelled from a rank NULL, silently; at 4403822
    the list was written in the macro and the answer was right. Now it is the
    right answer or an error naming what is missing, never NULL."""
    con = _bare_connection()
    try:
        row = con.execute(sql).fetchone()
    except duckdb.Error as exc:
        assert "rd_situations" in str(exc) and "open_connection" in str(exc), exc
        return
    assert row == (right,)


def test_the_error_costs_nothing_when_the_variable_is_set() -> None:
    """With the variable set (the run's connection), rd_rank folds to a plain
    list_position over a constant list: no CASE or error() left per row."""
    from recondiff.engine.confine import lock_down, open_connection

    con = lock_down(open_connection(), files=(), directories=())
    con.execute(macros())
    plan = "\n".join(
        str(r[1])
        for r in con.execute("EXPLAIN SELECT rd_rank(CAST(range AS VARCHAR)) FROM range(3)")
        .fetchall()
    )
    assert "error" not in plan.lower() and "CASE" not in plan, plan
    assert con.execute("SELECT rd_situations()").fetchone() == (list(SITUATIONS),)


def test_every_rank_a_query_names_is_a_situation() -> None:
    """rd_rank('...') of a misspelt situation is NULL: every literal one is in
    the vocabulary."""
    named = {
        (path.relative_to(query_dir()).as_posix(), m.group(1))
        for path in query_dir().rglob("*.sql")
        if path.parent.name != "macros"  # the definition (its comment says rd_rank('...'))
        for m in re.finditer(r"rd_rank\(\s*'([^']*)'\s*\)", path.read_text(encoding="utf-8"))
    }
    assert named, "no rd_rank('...') found: the pattern is stale"
    assert {(f, s) for f, s in named if s not in SITUATIONS} == set()


# --- compare as named phases: a failure after the tables are staged ----------------------

# The phases that now run after the tables are staged (at 4403822 inside the
# output writer, as callbacks): a failure in any of them, of any kind, leaves
# the previous results as they were, no staging directory, no work directory,
# and no history entry.
_LATE_FAILURES = {
    "plan": ("recondiff.compare.Planner.build", RuntimeError("boom")),
    "plan events": ("recondiff.compare.PlanWriter.add_batch", InputError("a refused event")),
    "report": ("recondiff.compare.ReportBuilder.build", RuntimeError("boom")),
    "report interrupted": ("recondiff.compare.ReportBuilder.build", KeyboardInterrupt()),
    "render": ("recondiff.compare.render_html", RecursionError("deep")),
    "summary": ("recondiff.engine.publish.Staging.write_summary", OSError(errno.ENOSPC, "full")),
    "report's trend": ("recondiff.compare.History.runs", KeyboardInterrupt()),
}


def _outputs(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


@pytest.fixture
def _sample_out(sample_run: SampleRun) -> Path:
    return sample_run.out  # read-only: previous_run copies it


@pytest.fixture
def previous_run(
    _sample_out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """A copy of the sample's results (and history) in tmp_path/out, with TMPDIR
    at tmp_path/tmp."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    out = tmp_path / "out"
    shutil.copytree(_sample_out, out)
    return out, temp


@pytest.mark.parametrize("where", list(_LATE_FAILURES))
def test_a_late_phase_failure_keeps_the_previous_results(
    where: str, previous_run: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    out, temp = previous_run
    target, failure = _LATE_FAILURES[where]
    before = _outputs(out)
    runs = History(out / "history.duckdb").runs()
    assert len(runs) == 1, runs

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise failure

    monkeypatch.setattr(target, fail)
    with pytest.raises((type(failure), RecondiffError)):
        compare.compare(SAMPLE / "recondiff.toml", out)
    monkeypatch.undo()
    assert _outputs(out) == before, f"{where}: the previous results changed"
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
    assert list(temp.iterdir()) == []
    assert len(History(out / "history.duckdb").runs()) == 1, f"{where}: a failed run recorded"


def test_a_rename_that_fails_midway_leaves_no_summary_and_no_history(
    previous_run: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the renames have begun, a failure says the results are incomplete,
    summary.json (the mark of a complete result) is gone, and the run is not
    recorded: the next run's previous run stays the last complete one."""
    out, temp = previous_run
    real = os.replace
    renamed: list[str] = []

    def replace(src: Any, dst: Any) -> None:
        if workdirs.STAGING_PREFIX in str(src) and Path(dst).parent == out:
            renamed.append(Path(dst).name)
            if len(renamed) == 3:
                raise OSError(errno.EIO, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(InputError, match=re.escape("incomplete (no summary.json); run again")):
        compare.compare(SAMPLE / "recondiff.toml", out)
    monkeypatch.undo()
    assert not (out / "summary.json").exists()
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
    assert list(temp.iterdir()) == []
    assert len(History(out / "history.duckdb").runs()) == 1


# --- the run's connection: confined, and only once the checks are done ----------------


def test_the_runs_connection_is_confined_before_any_query(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """engine/connection.connect hands compare a connection already locked:
    external access off (only the snapshots, the work and output directories
    and DuckDB's spill directory inside the work directory), no extension
    loaded or installed, settings locked, the situations bound."""
    from recondiff.engine import connection

    seen: list[dict[str, Any]] = []
    real = connection.connect

    def spy(*args: Any, **kwargs: Any) -> duckdb.DuckDBPyConnection:
        con = real(*args, **kwargs)
        names = (
            "enable_external_access", "lock_configuration", "autoload_known_extensions",
            "autoinstall_known_extensions", "allow_community_extensions",
            "allow_unsigned_extensions", "allowed_directories", "allowed_paths",
            "temp_directory",
        )
        seen.append({n: con.execute(f"SELECT current_setting('{n}')").fetchone()[0]  # type: ignore[index]
                     for n in names})
        seen[-1]["work"] = args[1]
        seen[-1]["variable"] = con.execute("SELECT getvariable('rd_situations')").fetchone()
        return con

    monkeypatch.setattr(compare, "connect", spy)
    out = tmp_path / "out"
    compare.compare(SAMPLE / "recondiff.toml", out)
    [s] = seen
    work = s.pop("work")
    assert s.pop("variable") == (list(SITUATIONS),)
    assert {k: v for k, v in s.items() if k.startswith(("enable", "lock", "auto", "allow_"))} == {
        "enable_external_access": False,
        "lock_configuration": True,
        "autoload_known_extensions": False,
        "autoinstall_known_extensions": False,
        "allow_community_extensions": False,
        "allow_unsigned_extensions": False,
    }
    assert s["temp_directory"] == str(work / "duckdb-tmp")
    assert sorted(s["allowed_directories"]) == sorted(
        f"{os.path.abspath(d)}/" for d in (work, out, work / "duckdb-tmp")
    )
    assert sorted(s["allowed_paths"]) == [
        str(work / "endpoint.parquet"), str(work / "repository.parquet")
    ]


def _copy_sample(tmp_path: Path) -> Path:
    for name in ("ad_users.csv", "identities.csv", "recondiff.toml"):
        shutil.copy(SAMPLE / name, tmp_path / name)
    return tmp_path / "recondiff.toml"


def test_no_connection_nor_work_directory_before_the_snapshot_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot that is one of the run's outputs is refused before anything
    is made: no connection, no work directory, no output directory."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setattr(compare, "connect", _never)
    config = _copy_sample(tmp_path)
    out = tmp_path / "out"
    for name in ("situations.csv", "drift.csv", "summary.json", "history.duckdb"):
        text = (SAMPLE / "recondiff.toml").read_text(encoding="utf-8")
        config.write_text(
            text.replace('snapshot = "identities.csv"', f'snapshot = "out/{name}"', 1),
            encoding="utf-8",
        )
        with pytest.raises(ConfigError, match=f"is the {re.escape(name)} this run writes"):
            compare.compare(config, out)
        assert not out.exists() and list(temp.iterdir()) == []


def test_no_connection_when_the_shrink_guard_stops_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _copy_sample(tmp_path)
    out = tmp_path / "out"
    compare.compare(config, out)
    before = _outputs(out)
    lines = (tmp_path / "identities.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "identities.csv").write_text("".join(lines[:5]), encoding="utf-8")
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setattr(compare, "connect", _never)
    with pytest.raises(InputError, match="max_shrink_percent"):
        compare.compare(config, out)
    assert _outputs(out) == before and list(temp.iterdir()) == []


def _never(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a connection was opened")


# --- the CSV convention: LF row ends, same records -------------------------------------


def _old_to_csv(header: list[str], rows: list[list[str]]) -> str:
    """io/csvsafe.to_csv at 4403822: CRLF row ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([csvsafe.neutralise(h) for h in header])
    for row in rows:
        writer.writerow([csvsafe.neutralise(c) for c in row])
    return buffer.getvalue()


_CELL = st.text(alphabet=st.sampled_from(list("ab,;\"'=+-@\t\r\n \u00e9")), max_size=8)


@given(st.lists(st.lists(_CELL, min_size=3, max_size=3), max_size=4))
@settings(max_examples=300, deadline=None)
def test_lf_csv_holds_the_records_of_the_crlf_one(rows: list[list[str]]) -> None:
    """The LF convention changes the row ends only: a reader gets the same
    records (a cell holding CR, LF or CRLF is quoted and kept as it is), and
    the text is the old text with each row's CRLF made LF."""
    header = ["a", "b", "c"]
    new, old = csvsafe.to_csv(header, rows), _old_to_csv(header, rows)
    assert list(csv.reader(io.StringIO(new, newline=""))) == list(
        csv.reader(io.StringIO(old, newline=""))
    )
    assert len(new) == len(old) - len(rows) - 1


def test_an_exported_sheet_with_line_breaks_imports_as_unchanged(
    sample_run: SampleRun, tmp_path: Path
) -> None:
    """A decision whose comment holds CR, LF and CRLF, and an approver that
    looks like a formula, exported (LF), saved back with CRLF row ends and a
    BOM as Excel does, imports as already in the plan: nothing re-decided,
    the plan's digest unchanged."""
    plan = tmp_path / "plan.jsonl"
    shutil.copy(sample_run.out / "plan.jsonl", plan)
    pending = [
        e["id"] for e in plan_mod.load_plan(plan)["events"] if e["approval"]["required"]
    ]
    assert len(pending) >= 2
    comment = "CHG-1\r\nline two\rthree\nfour"
    review.decide_file(plan, pending[:1], "approved", "=cmd|' /c calc'!A0", comment)
    review.decide_file(plan, pending[1:2], "rejected", "@ann", "-1 \"quoted\", ok")
    digest = plan_mod.load_plan(plan)["digest"]
    sheet = tmp_path / "d.csv"
    review.export_decisions(plan, sheet)
    raw = sheet.read_bytes()
    assert raw.count(b"\r\n") == 1  # the comment's own CRLF; every row ends in LF
    records = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    excel = tmp_path / "excel.csv"
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(records)
    excel.write_bytes(b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8"))
    for path in (sheet, excel):
        result = review.import_decisions(plan, path, by="board")
        assert (result.decided, result.unchanged) == ([], 2), path
        assert plan_mod.load_plan(plan)["digest"] == digest
    approval = plan_mod.load_plan(plan)["events"]
    got = {e["id"]: e["approval"] for e in approval}
    assert (got[pending[0]]["by"], got[pending[0]]["comment"]) == ("=cmd|' /c calc'!A0", comment)


def test_reimporting_an_untouched_sheet_keeps_decisions_with_spaces_around(
    sample_run: SampleRun, tmp_path: Path
) -> None:
    """Hole (there at 4403822 too): plan approve/reject keep --by and --comment
    as given, but import-decisions trims the sheet's cells before it compares
    them with the plan; an untouched sheet of a decision whose comment (or
    approver) had a space, tab or line break around it was taken for a new
    decision: the comment rewritten trimmed, the decision's time moved, the
    plan saved with a new digest. Compared trimmed on both sides, it is
    'already in the plan'."""
    plan = tmp_path / "plan.jsonl"
    shutil.copy(sample_run.out / "plan.jsonl", plan)
    pending = [
        e["id"] for e in plan_mod.load_plan(plan)["events"] if e["approval"]["required"]
    ]
    review.decide_file(plan, pending[:1], "rejected", " ann ", "\tnot now\n")
    review.decide_file(plan, pending[1:2], "approved", "bob", " CHG-2")
    before = plan_mod.load_plan(plan)
    review.export_decisions(plan, tmp_path / "d.csv")
    result = review.import_decisions(plan, tmp_path / "d.csv")
    assert (result.decided, result.unchanged) == ([], 2)
    assert plan_mod.load_plan(plan) == before
    # a real change of the comment is still one
    rows = (tmp_path / "d.csv").read_text(encoding="utf-8").replace("CHG-2", "CHG-3")
    (tmp_path / "e.csv").write_text(rows, encoding="utf-8")
    result = review.import_decisions(plan, tmp_path / "e.csv")
    assert (result.decided, result.unchanged) == ([(pending[1], "approved")], 1)
    got = {e["id"]: e["approval"] for e in plan_mod.load_plan(plan)["events"]}
    assert (got[pending[1]]["by"], got[pending[1]]["comment"]) == ("bob", "CHG-3")
    assert got[pending[0]] == {e["id"]: e["approval"] for e in before["events"]}[pending[0]]


# --- config/expression.py: its own parse-only connection --------------------------------


def test_the_parse_only_connection_reaches_nothing(tmp_path: Path) -> None:
    """config/expression.py's own connection (at 4403822 engine/confine's
    lock_down over no file) parses only: external access off, no extension
    loaded or installed, settings locked; a statement run on it could read,
    write, attach or load nothing.

    Hole: it turned external access off in its connect config, where DuckDB
    then allows the database's own files: for ":memory:" the files
    ./:memory: and ./:memory:.wal* of the working directory, which a
    statement on it could write (COPY ... TO ':memory:'). Only the parse runs
    there, so nothing did; now nothing is allowed, as at 4403822."""
    from recondiff.config import expression

    con = expression._parser()
    settings_now = {
        n: con.execute(f"SELECT current_setting('{n}')").fetchone()[0]  # type: ignore[index]
        for n in (
            "enable_external_access", "lock_configuration", "autoload_known_extensions",
            "autoinstall_known_extensions", "allow_community_extensions",
            "allow_unsigned_extensions", "allowed_paths",
        )
    }
    assert settings_now == {
        "enable_external_access": False,
        "lock_configuration": True,
        "autoload_known_extensions": False,
        "autoinstall_known_extensions": False,
        "allow_community_extensions": False,
        "allow_unsigned_extensions": False,
        "allowed_paths": [],
    }
    secret = tmp_path / "secret.txt"
    secret.write_text("x", encoding="utf-8")
    for sql in (
        f"SELECT * FROM read_text('{secret}')",
        f"COPY (SELECT 1) TO '{tmp_path / 'w.csv'}'",
        f"ATTACH '{tmp_path / 'a.duckdb'}'",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
    ):
        with pytest.raises(duckdb.Error):
            con.execute(sql)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.txt"]
