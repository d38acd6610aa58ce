"""Red team of the drift rewrite (issue 19, branch `drift`): queries/drift/differences.sql
now normalises each distinct value once into a dictionary and writes one SELECT per
attribute (recondiff/engine/drift.py), where it used to unnest every drifted pair's
value lists; its outputs were to stay the same to the byte.

Found by differential testing: random tiny datasets (every compare kind, NULLs,
blanks, whitespace, duplicates in sets, case/space/DN spellings, NFC/NFD, Turkish
dotted I, long values, ';' '|' '"' and newlines in values, derived sides, odd
column names, a repository column mapped twice, CSV/JSON Lines/Parquet inputs)
run through the code before the rewrite and after it, every output compared.

Each test marked ``xfail(strict=True)`` is a difference found: it asserts what the
code before the rewrite wrote, and what docs/semantics.md asks for, so it fails on
the rewrite and passes once that is fixed (then drop the mark). The unmarked tests
pin outputs both versions wrote, byte for byte, written down here by hand from
docs/semantics.md (no old code runs at test time).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from recondiff.compare import compare

HEAD = """\
[endpoint]
name = "test-ad"
snapshot = "endpoint.csv"
key = "k"
{endpoint_extra}

[repository]
snapshot = "repository.csv"
key = "id"
link = "acct"
{repository_extra}
"""


def run(
    tmp_path: Path,
    attributes: str,
    endpoint: str,
    repository: str,
    *,
    endpoint_extra: str = "",
    repository_extra: str = "",
) -> Path:
    (tmp_path / "endpoint.csv").write_text(endpoint, encoding="utf-8")
    (tmp_path / "repository.csv").write_text(repository, encoding="utf-8")
    config = tmp_path / "recondiff.toml"
    config.write_text(
        HEAD.format(endpoint_extra=endpoint_extra, repository_extra=repository_extra)
        + attributes,
        encoding="utf-8",
    )
    compare(config, tmp_path / "out")
    return tmp_path / "out"


def drift_rows(out: Path) -> list[list[str]]:
    """drift.csv without its header, each row as its cells."""
    with (out / "drift.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == [
        "endpoint_key", "identity_key", "situation", "attribute", "repository_attribute",
        "compare", "kind", "endpoint_value", "repository_value",
    ]
    return rows[1:]


def summary(out: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return result


# --- differences: the rewrite writes other drift than before ------------------------


COLLATED = """
[[attribute]]
endpoint = "title"
repository = "title"

[[attribute]]
name = "mailx"
endpoint_sql = "mail COLLATE NOCASE"
repository = "mail"
on_drift = "do_nothing"
"""


@pytest.mark.xfail(
    strict=True,
    reason="red team: the rewrite compares a derived side's raw value with its SQL "
    "collation (e1 IS DISTINCT FROM r1): 'A@x' COLLATE NOCASE equals 'a@x', so an exact "
    "attribute's drift row is lost; before, the value was compared as a column holding it",
)
def test_collated_expression_is_compared_as_its_value(tmp_path: Path) -> None:
    # u1 drifts on title; its derived mail differs in case only, under compare exact.
    # docs/semantics.md: a derived side "is compared exactly as a column holding its
    # result would be"; a column holding A@x is not a@x under exact.
    out = run(
        tmp_path,
        COLLATED,
        "k,title,mail\nu1,T1,A@x\n",
        "id,acct,title,mail\nE1,u1,T9,a@x\n",
    )
    assert drift_rows(out) == [
        ["u1", "E1", "linked", "title", "title", "exact", "changed", "T1", "T9"],
        ["u1", "E1", "linked", "mailx", "mail", "exact", "changed", "A@x", "a@x"],
    ]
    assert summary(out)["drift"]["by_attribute"] == {"title": 1, "mailx": 1}
