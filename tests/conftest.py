"""Shared fixtures and markers.

RECONDIFF_REQUIRE_SYSTEM=1 (set by scripts/test on CI) turns a missing system
dependency (slapd, chromium, ...) into a failure instead of a skip.

Markers (pyproject.toml, docs/testing.md): ``system`` is given here to every
test that uses a fixture of :data:`SYSTEM_FIXTURES`, ``slow`` to every test
that uses one of :data:`SLOW_FIXTURES`; other tests carry the mark themselves.
"""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pytest

from recondiff.io.sqlfiles import macros

if TYPE_CHECKING:
    from recondiff.compare import CompareResult

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
THIRD_PARTY = ROOT / "tests" / "data" / "third_party"

SYSTEM_FIXTURES = {
    "ldap_server",  # tests/slapd.py: Debian's slapd and ldap-utils
    "browser",  # tests/test_report_browser.py: Debian's chromium
    "postgres_server",  # tests/postgres.py: Debian's postgresql
}
SLOW_FIXTURES = {
    "big_run",  # a generated scenario of 200,000-400,000 identities, compared in a subprocess
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & SYSTEM_FIXTURES:
            item.add_marker(pytest.mark.system)
        if used & SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)
    # The spark files first (a stable sort: every file's tests stay together and
    # in order): their Spark session is the longest single piece of the suite,
    # and scripts/test's --dist loadfile hands files out in this order, so
    # started last it ran alone while the other worker sat idle.
    items.sort(key=lambda item: item.get_closest_marker("spark") is None)


def require_system(what: str, available: bool) -> None:
    """Skip when a system dependency is missing, or fail on CI."""
    if available:
        return
    if os.environ.get("RECONDIFF_REQUIRE_SYSTEM") == "1":
        pytest.fail(f"{what} is required (RECONDIFF_REQUIRE_SYSTEM=1) but not installed")
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the rd_* macros (UTC), for tests of
    the macros and of the SQL recondiff.engine.slots writes."""
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    c.execute(macros())
    return c


@pytest.fixture
def sample_config() -> Path:
    return SAMPLE / "recondiff.toml"


@dataclass(frozen=True)
class SampleRun:
    """``compare`` on sample_data: its result and its output directory."""

    result: CompareResult
    out: Path


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SampleRun]:
    """The sample compared once per test session (per worker under xdist).

    Shared: a test reads ``out`` and ``result``, never writes or changes them
    (copy ``out`` first to write beside it). The session's end checks that."""
    from recondiff.compare import compare

    out = tmp_path_factory.mktemp("sample-run") / "out"
    result = compare(SAMPLE / "recondiff.toml", out)
    summary, files = copy.deepcopy(result.summary), _digests(out)
    yield SampleRun(result, out)
    assert result.summary == summary, "a test changed the shared sample run's summary"
    assert _digests(out) == files, f"a test wrote into the shared sample run ({out})"


def _digests(directory: Path) -> dict[str, Any]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@contextmanager
def read_only(directory: Path) -> Iterator[Path]:
    """A module fixture's run shared by its tests: they read ``directory`` and
    never write there (copy it with :func:`private_copy` first). Checked when
    the fixture ends, as for ``sample_run``."""
    files = _digests(directory)
    yield directory
    assert _digests(directory) == files, f"a test wrote into a shared run ({directory})"


def private_copy(shared: Path, tmp_path: Path) -> Path:
    """A test's own copy of a shared run's directory, to write beside its outputs."""
    copy_ = tmp_path / shared.name
    shutil.copytree(shared, copy_)
    return copy_


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """One Spark local[2] session per pytest worker, shared by the spark test
    files that run there (tests/spark_local.py; a JVM start is 10-15 s)."""
    from tests.spark_local import local_spark

    with local_spark("recondiff-tests") as session:
        yield session

