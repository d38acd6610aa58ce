"""The plan's events on Spark (issue 21, point 4): queries/plan/events.sql, run
by recondiff.engine.spark_run over the tables a DuckDB compare gave it, writes
the same event lines as DuckDB, byte for byte (ids and finding keys included),
for the sample and variants of it that make every kind of event, and a case."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.spark_events_capture import capture_events, on_spark

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"

# [situations] and [plan] lines changed in the sample's config: variants whose
# plans hold the kinds of event the sample's own does not
VARIANTS = {
    "sample": {},
    # delete, unlink (missing and linked), add to the repository
    "delete-unlink": {
        'deleted_in_repository = "disable_in_endpoint"':
            'deleted_in_repository = "delete_from_endpoint"',
        'unmatched = "review"': 'unmatched = "add_to_repository"',
        'missing = "review"': 'missing = "unlink"',
        'linked = "do_nothing"': 'linked = "unlink"',
    },
    # a rejected new account deleted (its choices: delete or disable)
    "reject-delete": {
        'unmatched = "review"': 'unmatched = "reject"',
        'new_account_rejected_action = "disable"': 'new_account_rejected_action = "delete"',
    },
}
CASES = ("expect-account",)


@pytest.fixture(scope="module")
def spark(spark_session: Any) -> Iterator[Any]:
    yield spark_session


def _config(name: str, tmp_path: Path) -> Path:
    if name in CASES:
        return ROOT / "tests" / "cases" / name / "recondiff.toml"
    folder = tmp_path / "sample"
    shutil.copytree(SAMPLE, folder)
    config = folder / "recondiff.toml"
    text = config.read_text(encoding="utf-8")
    for old, new in VARIANTS[name].items():
        assert re.search(f"^{re.escape(old)}", text, re.M), old
        text = re.sub(f"^{re.escape(old)}", new, text, flags=re.M)
    config.write_text(text, encoding="utf-8")
    return config


def _kinds(lines: list[str]) -> set[str]:
    kinds = set()
    for line in lines:
        event = json.loads(line)
        kinds.add(f"{event['operation']}/{event['target']}")
        if "member_of" in event["object"]:
            kinds.add("membership")
        if "choices" in event:
            kinds.add("choices")
        if event["reason"].get("situation") == "policy":
            kinds.add("policy")
    return kinds


SEEN: set[str] = set()


# Each comparison takes 15 s to a minute on this project's 2-core machine: the
# sample's on every run, all of them with RECONDIFF_SPARK_CASES=all
# (docs/testing.md), which also checks every kind of event was compared.
ALL = os.environ.get("RECONDIFF_SPARK_CASES") == "all"
RUN = [*VARIANTS, *CASES] if ALL else ["sample"]


@pytest.mark.parametrize("name", RUN)
def test_events_on_spark_equal_duckdb(name: str, tmp_path: Path, spark: Any) -> None:
    captured = capture_events(_config(name, tmp_path), tmp_path / "out", tmp_path / "tables")
    assert captured.rows, f"{name}: no event to compare"
    on_duckdb = sorted(tuple(r) for r in captured.rows)
    spark_rows = sorted(on_spark(spark, captured, tmp_path / "spark"))
    assert len(spark_rows) == len(on_duckdb)
    for duck, sp in zip(on_duckdb, spark_rows, strict=True):
        assert sp == duck
    SEEN.update(_kinds([r[0] for r in on_duckdb]))


if ALL:  # every kind of event comes only from the variants together

    def test_every_kind_of_event_was_compared() -> None:
        """The runs above (in this module, before this test) made every kind."""
        assert SEEN, "the comparisons did not run"
        wanted = {
            "add/endpoint", "modify/endpoint", "disable/endpoint", "delete/endpoint",
            "link/repository", "unlink/repository", "add/repository", "modify/repository",
            "membership", "choices", "policy",
        }
        assert wanted <= SEEN, sorted(wanted - SEEN)
