"""Every tests/cases/ folder on Spark local[2] ([engine] kind = "spark", issue 21,
point 3): the same expected files as on DuckDB (tests/test_cases.py's check,
the case's config with its [engine] replaced). The Spark session is started
once for the module; each run uses it (engine/spark_run.open_spark) and
leaves it running."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recondiff.config.model import EngineConfig, SparkConfig
from tests.spark_local import MASTER, local_spark
from tests.test_cases import CASES, run_case

pytestmark = pytest.mark.spark

ON_SPARK = EngineConfig(kind="spark", spark=SparkConfig(master=MASTER))


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    with local_spark("recondiff-test-spark-cases") as session:
        yield session


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_case_on_spark(case: Path, tmp_path: Path, spark: Any) -> None:
    run_case(case, tmp_path, ON_SPARK)
