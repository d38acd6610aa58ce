"""The order of the engine's steps is one list (recondiff/engine/steps.py: STEPS):
queries/README.md says the same, every query file is a step or in a documented
group, and a compare runs only listed steps, in the listed order."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

import recondiff.engine.steps as steps
from recondiff.compare import compare
from recondiff.engine.steps import OTHER_GROUPS, PHASES, STEPS, Session
from recondiff.errors import InternalError
from tests.conftest import ROOT

QUERIES = ROOT / "queries"
README = QUERIES / "README.md"
_ROW = re.compile(r"^\| `([\w/]+)\.sql` \| (\w+) \| (.+) \|$")


def _readme_steps() -> list[tuple[str, str, str]]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## The engine's steps, in order", 1)[1].split("\n## ", 1)[0]
    return [
        (m[1], m[2], m[3])
        for line in section.splitlines()
        if (m := _ROW.match(line))
    ]


def test_the_readme_lists_the_steps_in_order_with_their_lines() -> None:
    assert _readme_steps() == [(s.name, s.phase, s.decides) for s in STEPS]


def test_each_step_is_listed_once_in_a_known_phase_and_the_phases_in_order() -> None:
    names = [s.name for s in STEPS]
    assert len(names) == len(set(names))
    assert all(s.phase in PHASES for s in STEPS)
    order = [PHASES.index(s.phase) for s in STEPS]
    assert order == sorted(order)


def test_every_query_file_is_a_step_or_in_a_documented_group() -> None:
    listed = {s.name for s in STEPS}
    readme = README.read_text(encoding="utf-8")
    stray = []
    for path in sorted(QUERIES.rglob("*.sql")):
        name = path.relative_to(QUERIES).with_suffix("").as_posix()
        folder = name.partition("/")[0]
        if name in listed:
            assert (QUERIES / f"{name}.sql").is_file()
        elif folder not in OTHER_GROUPS:
            stray.append(name)
    assert stray == [], "not in engine/steps.STEPS nor in a group of OTHER_GROUPS"
    for s in STEPS:
        assert (QUERIES / f"{s.name}.sql").is_file(), s.name
    for group in OTHER_GROUPS:
        assert f"### `{group}/`" in readme, group


def test_a_session_refuses_a_step_not_listed_or_out_of_order() -> None:
    con = duckdb.connect()
    session = Session(con, {}, {})
    with pytest.raises(InternalError, match=r"queries/stage/nothing\.sql is not a step"):
        session.step("stage/nothing")
    session._last = [s.name for s in STEPS].index("drift/pairs")
    with pytest.raises(InternalError, match=r"classify/situations\.sql runs after .*drift/pairs"):
        session.step("classify/situations")


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """The queries a compare runs, in order, each run ended by "": the
    expect-account case (classify/missing_expected.sql) twice, the second with
    a previous run (classify/vanished.sql)."""
    names: list[str] = []
    run_step, batches = steps.run_step, steps.batches

    def spy_step(con: Any, name: str, *args: Any, **kw: Any) -> Any:
        names.append(name)
        return run_step(con, name, *args, **kw)

    def spy_batches(con: Any, name: str, *args: Any, **kw: Any) -> Any:
        names.append(name)
        return batches(con, name, *args, **kw)

    monkeypatch.setattr(steps, "run_step", spy_step)
    monkeypatch.setattr(steps, "batches", spy_batches)
    case = tmp_path / "expect-account"
    shutil.copytree(ROOT / "tests" / "cases" / "expect-account", case)
    for _ in range(2):
        compare(case / "recondiff.toml", tmp_path / "out")
        names.append("")
    return names


def test_a_compare_runs_only_listed_steps_in_the_listed_order(ran: list[str]) -> None:
    order = {s.name: i for i, s in enumerate(STEPS)}
    runs = "\n".join(ran).strip("\n").split("\n\n")
    assert len(runs) == 2
    for run in runs:
        names = run.split("\n")
        unlisted = [n for n in names if n not in order and n.partition("/")[0] not in OTHER_GROUPS]
        assert unlisted == []
        engine = [order[n] for n in names if n in order]
        assert engine == sorted(engine)
    run_ = set(ran)
    # every listed step that runs on the connection ran (check/expression runs in
    # resolve, before the connection's steps, only for a config expression;
    # classify/assigned_settled and assigned_links only with reviewer assignments:
    # tests/test_owners.py; of classify/correlated_update and correlated_rewrite,
    # one or the other: tests/test_classify_steps.py; classify/correlate_repository_check
    # only for a rule no account has a value for: tests/test_classify_redteam.py)
    assert {s.name for s in STEPS} - run_ <= {
        "check/expression", "classify/assigned_settled", "classify/assigned_links",
        "classify/correlate_repository_check",
        "classify/correlated_update", "classify/correlated_rewrite",
    }
