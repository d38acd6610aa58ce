"""Hostile inputs (tests/hostile/*/): each gives its exact one-line error.

See tests/hostile/README.md for the layout of a case. Every case runs the real
command line in-process, from a copy of its folder, so nothing is written into
the repository.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from recondiff.cli.main import cli

HOSTILE = Path(__file__).resolve().parent / "hostile"
CASES = sorted(p for p in HOSTILE.iterdir() if p.is_dir())


def _fill(text: str, out: Path, tmp: Path) -> str:
    return text.replace("{out}", str(out)).replace("{tmp}", str(tmp))


@pytest.mark.parametrize("case", CASES, ids=[p.name for p in CASES])
def test_hostile_case(case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (case / "README.md").is_file(), f"{case.name}: say in README.md what it is"
    work = tmp_path / "case"
    shutil.copytree(case, work)
    out = tmp_path / "out"
    args = [_fill(a, out, tmp_path) for a in (case / "args").read_text().splitlines() if a]
    env = {}
    if (case / "env").is_file():
        for line in (case / "env").read_text().splitlines():
            if line.strip():
                name, _, value = line.partition("=")
                env[name] = _fill(value, out, tmp_path)
    monkeypatch.chdir(work)
    result = CliRunner().invoke(cli, args, env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{case.name}: uncaught {result.exception!r}") from result.exception
    expected = _fill((case / "stderr").read_text(encoding="utf-8"), out, tmp_path)
    assert "Traceback" not in result.stderr
    assert result.stderr == expected
    assert result.exit_code == int((case / "exit_code").read_text())
    if (case / "forbidden").is_file():
        for line in (case / "forbidden").read_text().splitlines():
            if line.strip():
                path = Path(_fill(line.strip(), out, tmp_path))
                assert not path.exists(), f"{case.name}: {path} was written"
    for leftover in [*out.glob(".recondiff-tmp-*"), *tmp_path.glob("**/.recondiff-tmp-*")]:
        raise AssertionError(f"{case.name}: half-written {leftover} left behind")
