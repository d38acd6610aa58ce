"""Drift under a small memory limit (issue 19): heavy set drift must not need
memory in proportion to the square of a set's size.

drift/differences.sql once joined the normalised values of the two sides of
each drifted attribute; DuckDB planned it as a join of every endpoint element
with every repository element of the same set (n x n rows per set), and a 1M
run with 98,000 drifted pairs ran out of the default 1GB (benchmarks/NOTES.md,
"drift under the default memory limit"). Here the same shape, scaled down:
1,000 drifted accounts of about 105 groups each, compared within 128MB (on two
threads, so that the limit means the same on any machine). The old query
needs gigabytes here and fails with DuckDB's out-of-memory error (exit 2); the
new one passes within 96MB. The drift rows are checked one by one against what
the rule book says (docs/semantics.md, "Drift").
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from recondiff.compare import compare

ACCOUNTS = 1_200  # of which DRIFTED drift and the rest are in sync
DRIFTED = 1_000
COMMON, ONLY = 100, 5  # groups on both sides (spelled differently), on one side only
POOL = 400  # distinct group names: groups repeat across accounts, as they do
LIMIT = "128MB"

CONFIG = """\
[endpoint]
name = "memory-ad"
snapshot = "endpoint.parquet"
key = "sAMAccountName"

[repository]
snapshot = "repository.parquet"
key = "employee_id"
link = "ad_account"

[[attribute]]
endpoint = "memberOf"
repository = "groups"
compare = "dn_set"

[[attribute]]
endpoint = "title"
repository = "title"
compare = "casefold_trim"

[engine]
memory_limit = "{limit}"
threads = 2
"""


def group(n: int, repository: bool) -> str:
    """Group n's DN: the endpoint spells it as AD does, the repository lower-cased
    with a space after each comma (the same DN under dn_set)."""
    dn = f"CN=Group-{n % POOL:04d},OU=Groups,DC=example,DC=org"
    return dn.lower().replace(",", ", ") if repository else dn


def build(directory: Path) -> set[tuple[str, str, str, str]]:
    """Write both snapshots; return the drift rows the rule book expects:
    (endpoint key, attribute, kind, value as its side spells it)."""
    keys, member_of, ep_titles = [], [], []
    ids, links, groups, repo_titles = [], [], [], []
    expected: set[tuple[str, str, str, str]] = set()
    for i in range(ACCOUNTS):
        key = f"user{i:05d}"
        common = [i * 7 + k for k in range(COMMON)]
        ep_only = [i * 7 + COMMON + k for k in range(ONLY)]
        repo_only = [i * 7 + COMMON + ONLY + k for k in range(ONLY)]
        drifted = i < DRIFTED
        keys.append(key)
        ids.append(f"E{i:05d}")
        links.append(key)
        ep_groups = [group(n, False) for n in common + (ep_only if drifted else [])]
        repo_groups = [group(n, True) for n in common + (repo_only if drifted else [])]
        member_of.append(ep_groups[::-1])  # another order: no drift by itself
        groups.append(repo_groups)
        # every third drifted account also has another title; the others' titles
        # differ in case and spaces only (equal under casefold_trim)
        ep_titles.append(f"Engineer {i % 3}")
        if drifted and i % 3 == 0:
            repo_titles.append("Manager")
            expected.add((key, "title", "changed", f"Engineer {i % 3}"))
        else:
            repo_titles.append(f"  engineer {i % 3} ")
        if drifted:
            expected |= {(key, "memberOf", "added", group(n, False)) for n in ep_only}
            expected |= {(key, "memberOf", "removed", group(n, True)) for n in repo_only}
    strings = pa.list_(pa.string())
    pq.write_table(
        pa.table(
            {"sAMAccountName": keys, "memberOf": pa.array(member_of, strings), "title": ep_titles}
        ),
        directory / "endpoint.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "employee_id": ids,
                "ad_account": links,
                "groups": pa.array(groups, strings),
                "title": repo_titles,
            }
        ),
        directory / "repository.parquet",
    )
    return expected


def test_heavy_set_drift_within_a_small_memory_limit(tmp_path: Path) -> None:
    expected = build(tmp_path)
    config = tmp_path / "recondiff.toml"
    config.write_text(CONFIG.format(limit=LIMIT), encoding="utf-8")
    compare(config, tmp_path / "out")

    with (tmp_path / "out" / "drift.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    found = {
        (
            r["endpoint_key"],
            r["attribute"],
            r["kind"],
            r["endpoint_value"] if r["kind"] in ("added", "changed") else r["repository_value"],
        )
        for r in rows
    }
    assert len(rows) == len(found) == len(expected)
    assert found == expected
    titles = [r for r in rows if r["attribute"] == "title"]
    assert {r["repository_value"] for r in titles} == {"Manager"}
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["sync"] == {"in_sync": ACCOUNTS - DRIFTED, "drifted": DRIFTED}
    assert summary["drift"]["rows"] == len(expected)
    assert summary["drift"]["by_attribute"] == {
        "memberOf": DRIFTED,
        "title": len(range(0, DRIFTED, 3)),
    }
