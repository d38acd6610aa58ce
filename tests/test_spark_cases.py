"""Half of the tests/cases/ folders on Spark local[2]: see tests/spark_cases.py
(the other half: tests/test_spark_cases_2.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.spark_cases import KNOWN_DIFFERENT, ON_EVERY_RUN, SELECTED, check, half
from tests.test_cases import CASES

pytestmark = pytest.mark.spark


@pytest.mark.parametrize("case", half(0))
def test_case_on_spark(case: Path, tmp_path: Path, spark_session: Any) -> None:
    check(case, tmp_path)


def test_the_lists_name_real_cases() -> None:
    names = {c.name for c in CASES}
    assert set(ON_EVERY_RUN) <= names
    assert set(KNOWN_DIFFERENT) <= names
    assert {c.name for c in SELECTED} >= set(ON_EVERY_RUN)
