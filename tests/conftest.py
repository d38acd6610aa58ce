"""Shared fixtures.

RECONDIFF_REQUIRE_SYSTEM=1 (set by scripts/test on CI) turns a missing system
dependency (slapd, chromium, ...) into a failure instead of a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
THIRD_PARTY = ROOT / "tests" / "data" / "third_party"


def require_system(what: str, available: bool) -> None:
    """Skip when a system dependency is missing, or fail on CI."""
    if available:
        return
    if os.environ.get("RECONDIFF_REQUIRE_SYSTEM") == "1":
        pytest.fail(f"{what} is required (RECONDIFF_REQUIRE_SYSTEM=1) but not installed")
    pytest.skip(f"{what} is not installed")


@pytest.fixture
def sample_config() -> Path:
    return SAMPLE / "recondiff.toml"
