"""tests/cases/ folders on Spark local[2] ([engine] kind = "spark", issue 21,
point 3): the same expected files as on DuckDB (tests/test_cases.py's check,
the case's config with its [engine] replaced). The Spark session is started
once for the module; each run uses it (engine/spark_run.open_spark) and
leaves it running.

A case takes 15 to 40 s on Spark local[2] on this project's 2-core machine
(DuckDB: under 1 s), most of it Spark analysing and compiling the large
expressions the inlined macros make (benchmarks/NOTES.md, "Issue 21"). The
whole set would take the suite far past its 10 minutes, so by default the
two cases of ON_EVERY_RUN run (drift with the largest expressions;
correlation and missing identities). RECONDIFF_SPARK_CASES=all runs every
folder (docs/testing.md). The cases of KNOWN_DIFFERENT fail on Spark for the
reason given (strict: a fix makes them fail here until they leave the list).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recondiff.config.model import EngineConfig, SparkConfig
from tests.spark_local import MASTER
from tests.test_cases import CASES, run_case

pytestmark = pytest.mark.spark

ON_SPARK = EngineConfig(kind="spark", spark=SparkConfig(master=MASTER))

ON_EVERY_RUN = (
    "compare-uac-flags",  # drift, the largest expressions (every flag), hex numbers
    "expect-account",  # correlation, missing identities, the table written again
)

# The cases Spark does not yet run as DuckDB does, and why (none at present;
# compare-dn and compare-dn-set were, until rd_dn put a DN in NFC before its
# lambdas and url_decode kept '+').
KNOWN_DIFFERENT: dict[str, str] = {}

ALL = os.environ.get("RECONDIFF_SPARK_CASES") == "all"
SELECTED = [c for c in CASES if ALL or c.name in ON_EVERY_RUN]


def _param(case: Path) -> Any:
    reason = KNOWN_DIFFERENT.get(case.name)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(case, id=case.name, marks=marks)


@pytest.fixture(scope="module")
def spark(spark_session: Any) -> Iterator[Any]:
    yield spark_session


@pytest.mark.parametrize("case", [_param(c) for c in SELECTED])
def test_case_on_spark(case: Path, tmp_path: Path, spark: Any) -> None:
    run_case(case, tmp_path, ON_SPARK)


def test_the_lists_name_real_cases() -> None:
    names = {c.name for c in CASES}
    assert set(ON_EVERY_RUN) <= names
    assert set(KNOWN_DIFFERENT) <= names
