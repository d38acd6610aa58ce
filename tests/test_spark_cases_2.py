"""The other half of the tests/cases/ folders on Spark local[2]: see
tests/spark_cases.py (a file of its own, so that pytest-xdist runs the two
halves on two workers at once)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.spark_cases import check, half

pytestmark = pytest.mark.spark


@pytest.mark.parametrize("case", half(1))
def test_case_on_spark(case: Path, tmp_path: Path, spark_session: Any) -> None:
    check(case, tmp_path)
