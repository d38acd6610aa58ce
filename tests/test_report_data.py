"""report.json as compare writes it (docs/report.md), on the tiny directory of
tests/test_plan.py, whose differences are written down in that module."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from recondiff.compare import compare
from tests.conftest import private_copy
from tests.test_plan import CONFIG, ENDPOINT, REPOSITORY, default_run

__all__ = ["default_run"]  # the fixture (run() with no extra, once per module), used by name


def run(tmp_path: Path, extra: str = "", endpoint: str = ENDPOINT,
        repository: str = REPOSITORY) -> dict[str, Any]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "endpoint.csv").write_text(endpoint, encoding="utf-8")
    (tmp_path / "repository.csv").write_text(repository, encoding="utf-8")
    (tmp_path / "recondiff.toml").write_text(CONFIG.format(extra=extra), encoding="utf-8")
    compare(tmp_path / "recondiff.toml", tmp_path / "out")
    report: dict[str, Any] = json.loads((tmp_path / "out" / "report.json").read_text("utf-8"))
    return report


def test_alerts_come_from_rules_and_from_unmatched_privileged_accounts(tmp_path: Path) -> None:
    # zz-temp (unmatched) also holds Domain Admins in this variant
    endpoint = ENDPOINT.replace("zz-temp,\"CN=zz-temp,OU=Staff,DC=ex\",,,,512",
                                "zz-temp,\"CN=zz-temp,OU=Staff,DC=ex\",,,"
                                "\"CN=Domain Admins,CN=Users,DC=ex\",512")
    report = run(tmp_path, endpoint=endpoint)
    alerts = [(a["kind"], a["endpoint_key"], a["attribute"], a["value"]) for a in report["alerts"]]
    assert alerts == [
        ("rule", "jdoe", "memberOf", "CN=Domain Admins,CN=Users,DC=ex"),
        ("privileged_unmatched", "zz-temp", "memberOf", "CN=Domain Admins,CN=Users,DC=ex"),
    ]
    for alert in report["alerts"]:  # every alert opens a side-by-side view
        assert report["details"][alert["detail"]]["endpoint_key"] == alert["endpoint_key"]


def test_per_attribute_drift_and_null_taxonomy(tmp_path: Path) -> None:
    endpoint = ENDPOINT.replace("asmith@ex.org,", "asmith@ex.org,").replace(
        ",Analyst,", ",,")  # asmith's title is empty on the endpoint: only in the repository
    report = run(tmp_path, endpoint=endpoint)
    title = report["drift"]["attributes"][0]
    assert {k: title[k] for k in ("attribute", "accounts", "changed", "only_endpoint",
                                  "only_repository", "both_differ")} == {
        "attribute": "title", "accounts": 2, "changed": 2, "only_endpoint": 0,
        "only_repository": 1, "both_differ": 1}
    assert title["transitions"] == [
        {"from": None, "to": "Analyst", "count": 1},
        {"from": "Engineer", "to": "Senior Engineer", "count": 1},
    ]
    groups = report["drift"]["attributes"][1]
    assert (groups["added"], groups["removed"]) == (1, 1)
    assert report["drift"]["top_values"] == [
        {"attribute": "memberOf", "kind": "added", "value": "CN=Domain Admins,CN=Users,DC=ex",
         "count": 1},
        {"attribute": "memberOf", "kind": "removed", "value": "CN=VPN,OU=Groups,DC=ex",
         "count": 1},
    ]


def test_tables_side_by_side_and_limits(tmp_path: Path) -> None:
    report = run(tmp_path, extra="[report]\nrows_per_table = 1\n")
    tables = {t["id"]: t for t in report["tables"]}
    assert list(tables) == ["linked-drifted", "linked-in_sync", "correlated-in_sync",
                            "unmatched", "missing", "deleted_in_repository"]
    assert tables["linked-in_sync"]["hidden"] and not tables["linked-drifted"]["hidden"]
    unmatched = tables["unmatched"]
    assert (unmatched["total"], unmatched["shown"], len(unmatched["rows"])) == (2, 1, 1)
    jdoe = report["details"][tables["linked-drifted"]["rows"][0]["detail"]]
    by_name = {a["attribute"]: a for a in jdoe["attributes"]}
    assert by_name["title"] == {
        "attribute": "title", "repository_attribute": "title", "compare": "exact",
        "endpoint": ["Engineer"], "repository": ["Senior Engineer"], "state": "changed",
        "added": [], "removed": []}
    assert by_name["memberOf"]["added"] == ["CN=Domain Admins,CN=Users,DC=ex"]
    assert by_name["memberOf"]["removed"] == ["CN=VPN,OU=Groups,DC=ex"]
    missing = report["details"][tables["missing"]["rows"][0]["detail"]]
    assert missing["identity_key"] == "1005"
    assert {a["state"] for a in missing["attributes"]} == {"one_side"}


def _first(default_run: Path, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """What ``run(tmp_path)`` leaves and returns, copied from the module's default run."""
    folder = private_copy(default_run, tmp_path)
    report: dict[str, Any] = json.loads((folder / "out" / "report.json").read_text("utf-8"))
    return folder, report


def test_new_resolved_persisting_and_trend(default_run: Path, tmp_path: Path) -> None:
    tmp_path, first = _first(default_run, tmp_path)
    assert first["history"]["previous_run"] is None
    # second run: zz-temp is gone from the directory (resolved), a new orphan appears
    endpoint = ENDPOINT.replace("zz-temp", "yy-new")
    second = run(tmp_path, endpoint=endpoint)
    history = second["history"]
    assert history["previous_run"]["id"] == first["run"]["id"]
    assert (history["new"], history["resolved"]) == (1, 1)
    assert history["resolved_rows"] == [
        {"situation": "unmatched", "endpoint_key": "zz-temp", "identity_key": None}]
    assert [t["id"] for t in history["trend"]] == [first["run"]["id"], second["run"]["id"]]
    rows = {r["endpoint_key"]: r for t in second["tables"] for r in t["rows"]}
    assert rows["yy-new"]["status"] == "new"
    assert rows["old-off"]["status"] == "persisting"
    assert rows["old-off"]["first_seen"] == next(
        r for t in first["tables"] for r in t["rows"] if r["endpoint_key"] == "old-off"
    )["first_seen"]
    assert rows["asmith"]["status"] is None  # in sync: not a finding


def test_staleness_warnings(default_run: Path, tmp_path: Path) -> None:
    tmp_path, _ = _first(default_run, tmp_path)  # the inputs, and a first run
    old = time.time() - 3 * 24 * 3600
    os.utime(tmp_path / "endpoint.csv", (old, old))
    compare(tmp_path / "recondiff.toml", tmp_path / "out")
    report = json.loads((tmp_path / "out" / "report.json").read_text("utf-8"))
    warnings = report["staleness"]["warnings"]
    assert len(warnings) == 2
    assert warnings[0].startswith("the endpoint snapshot is 3.0 days old")
    assert warnings[1].startswith("the two snapshots were captured 3.0 days apart")


def test_blank_values_are_left_out_of_the_side_by_side_view() -> None:
    from recondiff.report.build import _clean

    values = [None, "", " ", "\t\u00a0\u2003", "a", " b ", "\u00a0c"]
    assert _clean(values) == [v for v in values if v is not None and v.strip()]
    assert _clean(values) == ["a", " b ", "\u00a0c"]
    assert _clean(None) == [] and _clean([]) == []
