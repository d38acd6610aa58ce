"""The shrink guard (issue 14, item 9): a snapshot with more than
``[plan] max_shrink_percent`` (default 10%) fewer records than the same source
had in the previous run stops compare with one line and exit 2, unless
``compare --allow-shrink``. A cut-short export (a size-limited LDAP search, a
half-copied file) must not read as accounts gone."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from recondiff.cli.main import cli
from recondiff.config.load import load_config
from recondiff.errors import ConfigError
from tests.conftest import read_only

CONFIG = """\
[endpoint]
name = "ad"
snapshot = "ad.csv"
key = "sAMAccountName"
incremental = {incremental}

[repository]
name = "hub"
snapshot = "ids.csv"
key = "employee_id"
link = "ad_account"
{plan}
"""


def _write(work: Path, accounts: int, identities: int, *, incremental: bool = False,
           plan: str = "", name: str = "recondiff.toml") -> Path:
    (work / "ad.csv").write_text(
        "sAMAccountName\n" + "".join(f"u{i}\n" for i in range(accounts)), encoding="utf-8"
    )
    (work / "ids.csv").write_text(
        "employee_id,ad_account\n" + "".join(f"{i},u{i}\n" for i in range(identities)),
        encoding="utf-8",
    )
    config = work / name
    config.write_text(
        CONFIG.format(incremental=str(incremental).lower(), plan=plan), encoding="utf-8"
    )
    return config


def _compare(config: Path, out: Path, *extra: str) -> Result:
    result = CliRunner().invoke(cli, ["compare", "-c", str(config), "-o", str(out), "-q", *extra])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {result.exception!r}") from result.exception
    return result


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """20 accounts and 20 identities, no [plan], compared once per module (exit 0):
    the folder, read-only; :func:`_after_first_run` copies it."""
    work = tmp_path_factory.mktemp("first-run")
    config = _write(work, 20, 20)
    assert _compare(config, work / "out").exit_code == 0
    with read_only(work):
        yield work


def _after_first_run(first_run: Path, tmp_path: Path) -> tuple[Path, Path]:
    """What ``_write(tmp_path, 20, 20)`` and a compare into tmp_path/out leave: the
    config and out, copied from the module's first run."""
    shutil.copytree(first_run, tmp_path, dirs_exist_ok=True)
    return tmp_path / "recondiff.toml", tmp_path / "out"


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


def test_a_shrunk_endpoint_export_stops_the_compare(first_run: Path, tmp_path: Path) -> None:
    config, out = _after_first_run(first_run, tmp_path)  # 20 and 20: exit 0
    before = _files(out)
    _write(tmp_path, 17, 20)  # 15% fewer accounts
    result = _compare(config, out)
    assert result.exit_code == 2
    run_id = json.loads(before["summary.json"])["run"]["id"]
    assert result.stderr == (
        f"recondiff: error: {tmp_path}/ad.csv: 17 records, 15.0% fewer than the 20 of the "
        f"previous run ({run_id}), over [plan] max_shrink_percent = 10 in {config}; a "
        "cut-short export makes accounts look deleted. Check the export; if the source "
        "really shrank, run again with --allow-shrink\n"
    )
    assert _files(out) == before  # nothing written, not even the history
    allowed = _compare(config, out, "--allow-shrink")
    assert allowed.exit_code == 1, allowed.stderr  # 3 identities now miss their account
    # the next run compares with the run it accepted: 17 is the new normal
    assert _compare(config, out).exit_code == 1


def test_a_shrunk_repository_export_stops_the_compare(first_run: Path, tmp_path: Path) -> None:
    config, out = _after_first_run(first_run, tmp_path)  # 20 and 20: exit 0
    _write(tmp_path, 20, 10)
    result = _compare(config, out)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"recondiff: error: {tmp_path}/ids.csv: 10 records, 50.0% ")


@pytest.mark.parametrize(
    ("accounts", "plan", "code"),
    [
        (18, "", 1),  # exactly 10% is not more than 10%
        (17, "[plan]\nmax_shrink_percent = 20", 1),
        (19, "[plan]\nmax_shrink_percent = 0", 2),
    ],
)
def test_the_limit_is_configurable(tmp_path: Path, accounts: int, plan: str, code: int) -> None:
    config = _write(tmp_path, 20, 20, plan=plan)
    out = tmp_path / "out"
    assert _compare(config, out).exit_code == 0
    _write(tmp_path, accounts, 20, plan=plan)
    result = _compare(config, out)
    assert result.exit_code == code, result.stderr


def test_an_incremental_endpoint_is_not_checked(tmp_path: Path) -> None:
    """An incremental snapshot holds only changes: its size says nothing."""
    config = _write(tmp_path, 20, 20, incremental=True)
    out = tmp_path / "out"
    _compare(config, out)
    _write(tmp_path, 2, 20, incremental=True)
    result = _compare(config, out)
    assert result.exit_code in (0, 1), result.stderr


def test_another_config_is_another_source(first_run: Path, tmp_path: Path) -> None:
    """Only the previous run of the same config (endpoint and repository names)
    counts; another endpoint's history in the same state directory does not."""
    _, out = _after_first_run(first_run, tmp_path)  # 20 and 20: exit 0
    other = tmp_path / "other"
    other.mkdir()
    config2 = _write(other, 5, 5)
    config2.write_text(config2.read_text().replace('name = "ad"', 'name = "ldap2"'))
    assert _compare(config2, out).exit_code == 0


@pytest.mark.parametrize("value", ["-1", "101", '"10"', "true", "nan"])
def test_the_limit_is_bounded(tmp_path: Path, value: str) -> None:
    config = _write(tmp_path, 1, 1, plan=f"[plan]\nmax_shrink_percent = {value}")
    with pytest.raises(ConfigError, match=r"\[plan\] max_shrink_percent.*0 to 100"):
        load_config(config)
