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


CONTAMINATED = """
[[attribute]]
endpoint = "title"
repository = "title"

[[attribute]]
endpoint = "groups"
repository = "groups"
compare = "set"

[[attribute]]
name = "mailx"
endpoint_sql = "mail COLLATE NOCASE"
repository = "mail"
on_drift = "do_nothing"
"""


@pytest.mark.xfail(
    strict=True,
    reason="red team: one [[attribute]] whose expression has COLLATE NOCASE makes the "
    "rewrite's per-attribute UNION ALL (attrs) and value dictionary (norms) compare every "
    "attribute's values case-insensitively: plain columns under exact and set lose "
    "their drift, the run says in sync (exit 0)",
)
def test_collation_in_one_expression_does_not_hide_other_attributes(tmp_path: Path) -> None:
    # title and groups are plain columns; mail is equal on both sides. Under exact and
    # set, T1 is not t1 and A is not a (docs/semantics.md, "Compare kinds").
    out = run(
        tmp_path,
        CONTAMINATED,
        "k,title,mail,groups\nu1,T1,m@x,A;b\nu2,t2,m@x,C\n",
        "id,acct,title,mail,groups\nE1,u1,t1,m@x,a;B\nE2,u2,t2,m@x,c\n",
        endpoint_extra='multi_valued = ["groups"]',
        repository_extra='multi_valued = ["groups"]',
    )
    assert drift_rows(out) == [
        ["u1", "E1", "linked", "title", "title", "exact", "changed", "T1", "t1"],
        ["u1", "E1", "linked", "groups", "groups", "set", "added", "A", ""],
        ["u1", "E1", "linked", "groups", "groups", "set", "added", "b", ""],
        ["u1", "E1", "linked", "groups", "groups", "set", "removed", "", "B"],
        ["u1", "E1", "linked", "groups", "groups", "set", "removed", "", "a"],
        ["u2", "E2", "linked", "groups", "groups", "set", "added", "C", ""],
        ["u2", "E2", "linked", "groups", "groups", "set", "removed", "", "c"],
    ]
    assert summary(out)["sync"] == {"in_sync": 0, "drifted": 2}
    assert summary(out)["differences"] == 2
