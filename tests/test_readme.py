"""The README's examples run, so that a newcomer copying them gets what it says.

Every ```sh block of README.md is read in order; lines ending in a backslash
are joined, and each line is split as a shell would (shlex). Then:

* every ``recondiff ...`` line runs (in-process, the real CLI) from a temp
  directory holding a copy of ``sample_data/``, one after the other as a
  newcomer would type them, and must exit with the code its comment names
  (``# exit 1: ...``), else 0;
* ``export NAME=VALUE`` sets NAME for the lines after it;
* every ``--event`` id must exist, pending, in the sample's golden plan
  (``tests/golden/sample/plan.json``), which tests/test_sample.py holds equal
  to what compare writes;
* ``recondiff apply`` lines point at a real directory (``ldaps://dc1...``) and
  are **parsed, not run**: through click's own parser for ``apply`` (every
  option exists, required ones are given, values have their types), PLAN must
  be a plan an earlier line wrote that loads (schema and digest), and the
  password variable must have been exported above. They are not run against
  the slapd fixture (tests/slapd.py): the sample is an Active Directory export
  (userAccountControl, sAMAccountName) that slapd's schemas cannot hold, so
  every event would only be "stale"; tests/test_loop.py runs the same loop
  against slapd on a directory it can hold;
* other lines (``scripts/demo``, ``.venv/bin/pip install``, the benchmark)
  are not run here: they install packages or take minutes (CI runs
  ``scripts/test``; tests/test_packaging.py builds the package).

The ``plan show`` excerpt the README quotes must also be what ``plan show``
prints for the fresh sample plan.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from recondiff.cli.apply import apply_command
from recondiff.cli.main import cli
from recondiff.plan.file import load_plan
from tests.conftest import ROOT, SAMPLE

README = ROOT / "README.md"
GOLDEN_PLAN = ROOT / "tests" / "golden" / "sample" / "plan.json"
_EXIT = re.compile(r"#\s*exit (\d+)\b")


def _sh_lines(text: str) -> list[str]:
    """The command lines of every ```sh block, continuation lines joined."""
    lines: list[str] = []
    in_block = False
    pending = ""
    for raw in text.splitlines():
        if raw.startswith("```"):
            in_block = raw.strip() == "```sh"
            continue
        if not in_block:
            continue
        line = pending + raw
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1] + " "
            continue
        pending = ""
        if line.strip() and not line.lstrip().startswith("#"):
            lines.append(line)
    return lines


def test_the_readme_has_the_examples_this_test_runs() -> None:
    lines = _sh_lines(README.read_text(encoding="utf-8"))
    commands = [shlex.split(line, comments=True) for line in lines]
    run = [c for c in commands if c[0] == "recondiff"]
    assert len(run) >= 15, run
    assert any(c[1:3] == ["plan", "approve"] for c in run)
    assert any(c[1:3] == ["plan", "reject"] for c in run)
    assert any(c[1] == "apply" for c in run)


def test_every_event_id_is_pending_in_the_sample_plan() -> None:
    golden = json.loads(GOLDEN_PLAN.read_text(encoding="utf-8"))
    pending = {e["id"] for e in golden["events"] if e["approval"]["state"] == "pending"}
    named = [
        args[i + 1]
        for line in _sh_lines(README.read_text(encoding="utf-8"))
        for args in [shlex.split(line, comments=True)]
        for i, arg in enumerate(args[:-1])
        if arg == "--event"
    ]
    assert named, "the README names no event"
    for event_id in named:
        assert event_id in pending, f"{event_id}: not a pending event of {GOLDEN_PLAN}"


def _check_apply(args: list[str], env: dict[str, str], work: Path) -> None:
    """Parse an apply line through click (see the module docstring)."""
    try:
        ctx = apply_command.make_context("apply", list(args), resilient_parsing=False)
    except click.ClickException as exc:
        raise AssertionError(f"recondiff apply {shlex.join(args)}: {exc.format_message()}") from exc
    plan_file = work / ctx.params["plan_file"]
    load_plan(plan_file)  # exists, schema and digest hold
    variable = ctx.params["password_env"]
    assert variable and variable in env, f"apply reads ${variable}, which no line exported"


@pytest.mark.slow
def test_every_command_block_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(SAMPLE, tmp_path / "sample_data")
    monkeypatch.chdir(tmp_path)
    env: dict[str, str] = {}
    ran = 0
    for line in _sh_lines(README.read_text(encoding="utf-8")):
        args = shlex.split(line, comments=True)
        if args[0] == "export":
            name, _, value = args[1].partition("=")
            env[name] = value
            continue
        if args[0] != "recondiff":
            continue
        if args[1:2] == ["apply"] and args[2:3] != ["--help"]:
            _check_apply(args[2:], env, tmp_path)
            continue
        match = _EXIT.search(line)
        expected = int(match[1]) if match else 0
        result = CliRunner().invoke(cli, args[1:], env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"{line}: uncaught {result.exception!r}") from result.exception
        assert result.exit_code == expected, f"{line}\nexit {result.exit_code}: {result.stderr}"
        ran += 1
    assert ran >= 12


def test_the_quoted_plan_show_is_what_it_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("`plan show` on the fresh sample plan begins:")
    block = text[start:].split("```", 2)[1]
    quoted = block.strip("\n").splitlines()
    shutil.copytree(SAMPLE, tmp_path / "sample_data")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(cli, ["compare", "-c", "sample_data/recondiff.toml", "-o", "out", "-q"]
                         ).exit_code == 1
    shown = runner.invoke(cli, ["plan", "show", "out/plan.jsonl"]).stdout.splitlines()
    first = shown.index(quoted[0])
    assert shown[first : first + len(quoted)] == quoted
