"""Golden tests over ``tests/cases/``: one directory per rule of ``docs/semantics.md``.

Each case directory holds:

* ``README.md`` -- one line: what differs and what must be found;
* ``recondiff.toml`` and its tiny inputs (paths relative to the config);
* ``expected/summary.json`` -- ``situations`` (all nine counts), ``drift``
  (``by_attribute``, ``accounts``) and ``outputs`` (what situations.csv holds
  and leaves out, docs/outputs.md), compared exactly against those keys of the
  real ``summary.json``; an optional ``inputs`` object is compared as a subset
  (for example ``{"endpoint": {"blank_keys": 2}}``);
* ``expected/situations.csv`` -- columns ``situation, sync, endpoint_key,
  identity_key, rule, candidates``: the findings, as ``OUTDIR/situations.csv``
  holds them (every row but a ``linked`` account ``in_sync``; those are only
  in ``situations.parquet``, and ``outputs.situations_csv.in_sync_left_out``
  counts them). The run's ``situations.parquet`` is checked against it: the
  same rows plus exactly that many linked in-sync ones;
* ``expected/drift.csv`` -- columns ``endpoint_key, attribute, kind,
  endpoint_value, repository_value`` (may hold only the header);
* ``expected/exit_code`` -- ``0`` or ``1``.

A case with identity policies (``[[policy]]``, docs/policies.md) may also hold:

* ``expected/expected.csv`` -- columns ``identity_key, attribute, value,
  policy``: the rows of ``OUTDIR/expected.parquet``;
* ``expected/policies.csv`` -- columns ``identity_key, applied, pending``: the
  rows of ``OUTDIR/policies.parquet``, each list joined with ``;`` after
  sorting (an empty list is the empty string);
* ``expected/policy_conflicts.csv`` -- compared with
  ``OUTDIR/policy_conflicts.csv`` on ``identity_key, attribute, policies,
  values, pass``;
* a ``policies`` object in ``expected/summary.json``, compared as a subset of
  the real summary's ``policies`` block (the keys it names).

The CSV files are compared as sorted lists of rows over those columns only
(other columns of the real output are ignored; an empty cell is the empty
string). Adding a case needs no Python: create the directory.

Regenerating the golden files
-----------------------------
``RECONDIFF_UPDATE_GOLDEN=1 pytest tests/test_cases.py`` rewrites
``expected/situations.csv``, ``expected/drift.csv`` and
``expected/summary.json`` of every case (and the three policy files of a case
that has them or has a ``[[policy]]``) from the actual output instead of
comparing them (the exit code is still checked, never rewritten). Those tests
are then reported as skipped. Review the result with ``git diff tests/cases``
before committing: the expected files are hand-derived from the rules, and a
rewrite only ever records what the engine does, right or wrong. The switch is
off unless the variable is exactly ``1``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tomllib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

CASES_DIR = Path(__file__).parent / "cases"
CASES = sorted(p for p in CASES_DIR.iterdir() if (p / "recondiff.toml").is_file())
ALL_CASE_DIRS = sorted(p for p in CASES_DIR.iterdir() if p.is_dir())

UPDATE_GOLDEN = os.environ.get("RECONDIFF_UPDATE_GOLDEN") == "1"

SITUATIONS = (
    "linked",
    "correlated",
    "collision",
    "ambiguous",
    "unmatched",
    "missing",
    "deleted_in_repository",
    "excluded",
    "duplicate_key",
)
# situations whose row names one identity (docs/outputs.md, column identity_key)
IDENTITY_SITUATIONS = ("linked", "correlated", "collision", "deleted_in_repository", "missing")
SITUATION_COLUMNS = ("situation", "sync", "endpoint_key", "identity_key", "rule", "candidates")
DRIFT_COLUMNS = ("endpoint_key", "attribute", "kind", "endpoint_value", "repository_value")
EXPECTED_FILES = ("summary.json", "situations.csv", "drift.csv", "exit_code")
POLICY_EXPECTED_COLUMNS = ("identity_key", "attribute", "value", "policy")
POLICY_STATE_COLUMNS = ("identity_key", "applied", "pending")
POLICY_CONFLICT_COLUMNS = ("identity_key", "attribute", "policies", "values", "pass")
POLICY_SUMMARY_KEYS = (
    "policies", "identities_changed", "allocated", "deallocated", "reallocated",
    "passes", "pending", "conflicts", "unknown_applied",
)

Row = tuple[str, ...]


# ---------------------------------------------------------------- helpers


def _read_rows(path: Path, columns: Iterable[str]) -> list[Row]:
    """Rows of a CSV file projected on ``columns``, sorted; empty cells are ''."""
    columns = tuple(columns)
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        absent = [c for c in columns if c not in header]
        assert not absent, f"{path}: no column(s) {absent}; header is {header}"
        return sorted(tuple(row.get(c) or "" for c in columns) for row in reader)


def _write_rows(path: Path, columns: tuple[str, ...], rows: list[Row]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def _rows_diff(name: str, columns: tuple[str, ...], expected: list[Row], actual: list[Row]) -> str:
    exp, act = Counter(expected), Counter(actual)
    lines = [f"{name} differs (columns: {', '.join(columns)})"]
    for row in sorted((exp - act).elements()):
        lines.append(f"  - expected, not produced: {row}")
    for row in sorted((act - exp).elements()):
        lines.append(f"  + produced, not expected: {row}")
    return "\n".join(lines)


def _project_summary(
    actual: dict[str, Any], expected: dict[str, Any], *, whole_policies: bool = False
) -> dict[str, Any]:
    """The part of the real summary that the expected summary speaks about
    (``whole_policies``: the real ``policies`` block whole, when there is one)."""
    drift = actual.get("drift", {})
    projected: dict[str, Any] = {
        "situations": actual.get("situations"),
        "drift": {"by_attribute": drift.get("by_attribute"), "accounts": drift.get("accounts")},
        "outputs": actual.get("outputs"),
    }
    if "inputs" in expected:
        projected["inputs"] = _subset(actual.get("inputs", {}), expected["inputs"])
    if whole_policies and "policies" in actual:
        projected["policies"] = actual["policies"]
    elif "policies" in expected:
        projected["policies"] = _subset(actual.get("policies"), expected["policies"])
    return projected


def _parquet_rows(path: Path, select: str) -> list[Row]:
    """Rows of ``SELECT {select} FROM path``, each value as text ('' for NULL), sorted."""
    import duckdb

    con = duckdb.connect()
    try:
        rows = con.execute(f"SELECT {select} FROM read_parquet($p)", {"p": str(path)}).fetchall()
    finally:
        con.close()
    return sorted(tuple("" if v is None else str(v) for v in row) for row in rows)


def _actual_policy_expected(outdir: Path) -> list[Row]:
    return _parquet_rows(outdir / "expected.parquet", "identity_key, attribute, value, policy")


def _actual_policy_state(outdir: Path) -> list[Row]:
    return _parquet_rows(
        outdir / "policies.parquet",
        "identity_key, array_to_string(list_sort(applied), ';'), "
        "array_to_string(list_sort(pending), ';')",
    )


def _has_policies(case: Path) -> bool:
    return bool(_config(case).get("policy"))


def _subset(actual: Any, like: Any) -> Any:
    """``actual`` restricted to the keys present in ``like`` (recursively)."""
    if isinstance(like, dict):
        if not isinstance(actual, dict):
            return actual
        return {k: _subset(actual.get(k), v) for k, v in like.items()}
    return actual


def _expected_exit_code(case: Path) -> int:
    return int((case / "expected" / "exit_code").read_text().strip())


def _config(case: Path) -> dict[str, Any]:
    with (case / "recondiff.toml").open("rb") as f:
        return tomllib.load(f)


def _ci_get(mapping: dict[str, Any], name: str) -> Any:
    """Value of ``name`` in ``mapping``, attribute names being case-insensitive."""
    for k, v in mapping.items():
        if k.lower() == name.lower():
            return v
    return None


def _endpoint_keys(case: Path) -> list[str]:
    """Key of every endpoint record, in file order (blank ones included)."""
    endpoint = _config(case)["endpoint"]
    path = case / endpoint["snapshot"]
    key = endpoint["key"]
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            return [_ci_get(row, key) or "" for row in csv.DictReader(f)]
    if suffix == ".jsonl":
        records = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
        return [_ci_get(r, key) or "" for r in records]
    if suffix == ".ldif":
        keys: list[str] = []
        for block in path.read_text("utf-8").split("\n\n"):
            lines = block.strip().splitlines()
            if not any(line.lower().startswith("dn:") for line in lines):
                continue
            values = [
                line.split(":", 1)[1].strip()
                for line in lines
                if line.split(":", 1)[0].lower() == key.lower()
            ]
            keys.append(values[0] if values else "")
        return keys
    raise AssertionError(f"{path}: no reader for {suffix} in the self-consistency check")


# ---------------------------------------------------------------- structure


@pytest.mark.parametrize("case", ALL_CASE_DIRS, ids=lambda p: p.name)
def test_case_directory_is_complete(case: Path) -> None:
    readme = case / "README.md"
    assert readme.is_file(), f"{case.name}: no README.md"
    text = readme.read_text(encoding="utf-8").strip()
    assert text, f"{case.name}: README.md is empty"
    assert "\n" not in text, f"{case.name}: README.md must be ONE line"
    assert (case / "recondiff.toml").is_file(), f"{case.name}: no recondiff.toml"
    for name in EXPECTED_FILES:
        assert (case / "expected" / name).is_file(), f"{case.name}: no expected/{name}"
    assert (case / "expected" / "exit_code").read_text().strip() in {"0", "1"}, (
        f"{case.name}: expected/exit_code must be 0 or 1"
    )


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_expected_files_are_self_consistent(case: Path) -> None:
    """Cross-check the hand-written expectations against each other; needs no engine."""
    exp = case / "expected"
    summary = json.loads((exp / "summary.json").read_text(encoding="utf-8"))
    sits = _read_rows(exp / "situations.csv", SITUATION_COLUMNS)
    drift = _read_rows(exp / "drift.csv", DRIFT_COLUMNS)
    config = _config(case)
    rule_names = {r["name"] for r in config.get("correlation", [])}
    problems: list[str] = []

    # summary shape and counts against situations.csv (the findings: every row
    # but the linked accounts in sync, which outputs.situations_csv counts)
    if set(summary) - {"situations", "drift", "outputs", "inputs", "policies"}:
        problems.append(f"summary.json: unexpected keys {sorted(summary)}")
    if tuple(summary["situations"]) != SITUATIONS:
        problems.append(f"summary.json situations keys must be the nine, in order: {SITUATIONS}")
    left_out = _left_out(summary, len(sits), problems)
    counted = Counter(r[0] for r in sits)
    counted["linked"] += left_out
    for s in SITUATIONS:
        if summary["situations"].get(s) != counted.get(s, 0):
            problems.append(
                f"situations.{s} = {summary['situations'].get(s)} but situations.csv has "
                f"{counted.get(s, 0)} row(s)" + (
                    f" with the {left_out} linked in sync it leaves out" if s == "linked" else ""
                )
            )

    # each situation row
    for sit, sync, key, ident, rule, cands in sits:
        row = (sit, sync, key, ident, rule, cands)
        if sit not in SITUATIONS:
            problems.append(f"unknown situation in {row}")
        if (sit, sync) == ("linked", "in_sync"):
            problems.append(f"situations.csv holds no linked account in sync: {row}")
        if (sit in ("linked", "correlated")) != (sync in ("in_sync", "drifted")) or (
            sit not in ("linked", "correlated") and sync
        ):
            problems.append(f"sync must be in_sync/drifted exactly for linked/correlated: {row}")
        if (sit in IDENTITY_SITUATIONS) != bool(ident):
            problems.append(f"identity_key presence wrong for {sit}: {row}")
        if sit != "missing" and not key.strip():
            problems.append(f"an endpoint record needs a key: {row}")
        if sit == "linked" and rule != "link":
            problems.append(f"linked rows have rule 'link': {row}")
        if sit == "excluded" and rule not in ("scope", "protected"):
            problems.append(f"excluded rows have rule scope or protected: {row}")
        if sit in ("correlated", "collision") and rule not in rule_names:
            problems.append(f"rule must be a correlation rule name {sorted(rule_names)}: {row}")
        if sit in ("ambiguous", "deleted_in_repository") and rule not in rule_names | {"link"}:
            problems.append(f"rule must be 'link' or a correlation rule name: {row}")
        if sit in ("unmatched", "duplicate_key") and rule:
            problems.append(f"no rule expected: {row}")
        if sit == "missing" and rule != ("link" if key.strip() else "expect_account"):
            problems.append(f"missing rows have rule 'link' (or 'expect_account' without a link): {row}")
        cand_list = cands.split(";") if cands else []
        if cand_list != sorted(cand_list):
            problems.append(f"candidates must be sorted: {row}")
        if sit == "ambiguous" and len(cand_list) < 2:
            problems.append(f"ambiguous needs two or more candidates: {row}")
        if sit == "collision" and ident not in cand_list:
            problems.append(f"a collision's identity is among its candidates: {row}")
        if sit not in ("ambiguous", "collision") and cand_list:
            problems.append(f"candidates only for ambiguous/collision: {row}")

    # drift against situations and summary
    drifted = {r[2] for r in sits if r[1] == "drifted"}
    drift_keys = {r[0] for r in drift}
    if drifted != drift_keys:
        problems.append(
            f"drifted accounts {sorted(drifted)} != accounts in drift.csv {sorted(drift_keys)}"
        )
    if summary["drift"]["accounts"] != len(drift_keys):
        problems.append(
            f"drift.accounts = {summary['drift']['accounts']}, drift.csv has {len(drift_keys)}"
        )
    configured = [a.get("name", a.get("endpoint")) for a in config.get("attribute", [])]
    by_attr = summary["drift"]["by_attribute"]
    if sorted(by_attr) != sorted(configured):
        problems.append(f"by_attribute keys {sorted(by_attr)} != configured {sorted(configured)}")
    for attr in configured:
        n = len({r[0] for r in drift if r[1] == attr})
        if by_attr.get(attr) != n:
            problems.append(f"by_attribute[{attr}] = {by_attr.get(attr)}, drift.csv has {n}")
    for key, attr, kind, ev, rv in drift:
        row = (key, attr, kind, ev, rv)
        if attr not in configured:
            problems.append(f"drift on an attribute not configured: {row}")
        if kind not in ("changed", "added", "removed"):
            problems.append(f"unknown drift kind: {row}")
        if (kind == "added" and (rv or not ev)) or (kind == "removed" and (ev or not rv)):
            problems.append(f"added rows carry only the endpoint value, removed the other: {row}")

    # every endpoint record with a key is in exactly one situation row: a
    # non-missing row of situations.csv or one of the linked in sync it leaves out
    keys = _endpoint_keys(case)
    nonblank = sorted(k for k in keys if k.strip())
    listed = sorted(r[2] for r in sits if r[0] != "missing")
    unlisted = Counter(nonblank)
    unlisted.subtract(listed)
    if any(n < 0 for n in unlisted.values()) or unlisted.total() != left_out:
        problems.append(
            f"endpoint keys {nonblank} != non-missing rows {listed} "
            f"and {left_out} linked in sync left out"
        )
    blank = len(keys) - len(nonblank)
    declared = summary.get("inputs", {}).get("endpoint", {}).get("blank_keys", 0)
    if blank != declared:
        problems.append(f"{blank} blank endpoint key(s) in the input, summary declares {declared}")

    problems.extend(_policy_problems(case, config, summary))

    # exit code: 0 only when every row is excluded or linked in_sync (a
    # correlated account still lacks its link) and the policies change no
    # identity and meet no conflict (docs/policies.md: both are differences)
    differs = any(r[0] != "excluded" and (r[0], r[1]) != ("linked", "in_sync") for r in sits)
    pol = summary.get("policies", {})
    differs = differs or bool(pol.get("conflicts")) or bool(pol.get("identities_changed"))
    if _expected_exit_code(case) != int(differs):
        problems.append(f"exit_code should be {int(differs)}")

    assert not problems, f"{case.name}:\n  " + "\n  ".join(problems)


def _left_out(summary: dict[str, Any], csv_rows: int, problems: list[str]) -> int:
    """``outputs.situations_csv.in_sync_left_out`` of the expected summary, after
    checking the block against the situations.csv rows and the counts."""
    outputs = summary.get("outputs")
    if not isinstance(outputs, dict) or set(outputs) != {"situations_csv", "situations_parquet"}:
        problems.append("summary.json: outputs must hold situations_csv and situations_parquet")
        return 0
    written, parquet = outputs["situations_csv"], outputs["situations_parquet"]
    left_out = int(written.get("in_sync_left_out", 0))
    if written.get("rows") != csv_rows:
        problems.append(
            f"outputs.situations_csv.rows = {written.get('rows')}, situations.csv has {csv_rows}"
        )
    if written.get("every_record_in") != "situations.parquet":
        problems.append("outputs.situations_csv.every_record_in must be situations.parquet")
    if parquet.get("rows") != csv_rows + left_out:
        problems.append(
            f"outputs.situations_parquet.rows = {parquet.get('rows')}, situations.csv has "
            f"{csv_rows} and leaves out {left_out}"
        )
    if parquet.get("rows") != sum(summary["situations"].values()):
        problems.append("outputs.situations_parquet.rows must be the sum of the situations")
    return left_out


def _repository_keys(case: Path, config: dict[str, Any]) -> list[str]:
    repo = config["repository"]
    with (case / repo["snapshot"]).open(newline="", encoding="utf-8") as f:
        return [_ci_get(row, repo["key"]) or "" for row in csv.DictReader(f)]


def _policy_problems(case: Path, config: dict[str, Any], summary: dict[str, Any]) -> list[str]:
    """The policy files of a case against each other, its config and its summary."""
    exp = case / "expected"
    names = {p["name"].lower() for p in config.get("policy", [])}
    files = [n for n in ("expected.csv", "policies.csv", "policy_conflicts.csv") if (exp / n).is_file()]
    if not names:
        return [f"{n} without any [[policy]] in recondiff.toml" for n in files] + (
            ["summary.json: a policies block without any [[policy]]"] if "policies" in summary else []
        )
    problems: list[str] = []
    pol = summary.get("policies")
    if pol is not None:
        if set(pol) - set(POLICY_SUMMARY_KEYS):
            problems.append(f"summary.json policies: unknown keys {sorted(set(pol) - set(POLICY_SUMMARY_KEYS))}")
        if "policies" in pol and pol["policies"] != len(names):
            problems.append(f"policies.policies = {pol['policies']}, the config has {len(names)}")
    applied: dict[str, set[str]] = {}
    if (exp / "policies.csv").is_file():
        state = _read_rows(exp / "policies.csv", POLICY_STATE_COLUMNS)
        keys = sorted(_repository_keys(case, config))
        if sorted(r[0] for r in state) != keys:
            problems.append(f"policies.csv must hold one row per repository row {keys}")
        pending = 0
        for key, app, pend in state:
            for lst in (app, pend):
                items = lst.split(";") if lst else []
                if items != sorted(items) or not {i.lower() for i in items} <= names:
                    problems.append(f"policies.csv: {lst!r} is not a sorted list of policy names ({key})")
            applied[key] = {i.lower() for i in app.split(";")} if app else set()
            pending += 1 if pend else 0
        if pol is not None and "pending" in pol and pol["pending"] != pending:
            problems.append(
                f"policies.pending = {pol['pending']} identities, policies.csv has {pending} "
                "with a policy pending"
            )
    if (exp / "expected.csv").is_file():
        for row in _read_rows(exp / "expected.csv", POLICY_EXPECTED_COLUMNS):
            if row[3].lower() not in names:
                problems.append(f"expected.csv: {row[3]!r} is no policy of the config: {row}")
            elif applied and row[3].lower() not in applied.get(row[0], set()):
                problems.append(f"expected.csv: {row[3]} is not in {row[0]}'s applied list: {row}")
    if (exp / "policy_conflicts.csv").is_file():
        conflicts = _read_rows(exp / "policy_conflicts.csv", POLICY_CONFLICT_COLUMNS)
        for row in conflicts:
            # the policies ';'-joined, the value each sets as a JSON array, aligned
            if len(row[2].split(";")) < 2 or len(row[2].split(";")) != len(json.loads(row[3])):
                problems.append(f"policy_conflicts.csv: two or more policies, one value each: {row}")
        if pol is not None and "conflicts" in pol and pol["conflicts"] != len(conflicts):
            problems.append(f"policies.conflicts = {pol['conflicts']}, policy_conflicts.csv has {len(conflicts)}")
    return problems


# ---------------------------------------------------------------- the engine


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_case(case: Path, tmp_path: Path) -> None:
    run_case(case, tmp_path)


def run_case(case: Path, tmp_path: Path, engine: Any = None) -> None:
    """Run the case and compare its outputs with ``expected/`` (``engine``: an
    [engine] (config.model.EngineConfig) to run it with instead of its config's,
    tests/test_spark_cases.py's)."""
    import dataclasses

    try:
        from recondiff.compare import compare
        from recondiff.config.load import load_config
    except ImportError as exc:  # the engine is not written yet
        pytest.fail(f"recondiff.compare.compare is not importable: {exc}")

    outdir = tmp_path / "out"
    readme = (case / "README.md").read_text(encoding="utf-8").strip()
    config = load_config(case / "recondiff.toml")
    if engine is not None:
        config = dataclasses.replace(config, engine=engine)
    result = compare(config, outdir)
    exp = case / "expected"

    actual_summary = json.loads((outdir / "summary.json").read_text(encoding="utf-8"))
    actual_sits = _read_rows(outdir / "situations.csv", SITUATION_COLUMNS)
    left_out_problem = _parquet_problem(outdir, actual_sits, actual_summary)
    actual_drift = _read_rows(outdir / "drift.csv", DRIFT_COLUMNS)
    expected_summary = json.loads((exp / "summary.json").read_text(encoding="utf-8"))
    projected = _project_summary(actual_summary, expected_summary, whole_policies=UPDATE_GOLDEN)
    policy_tables = _policy_tables(case, outdir)

    if UPDATE_GOLDEN:
        _write_rows(exp / "situations.csv", SITUATION_COLUMNS, actual_sits)
        _write_rows(exp / "drift.csv", DRIFT_COLUMNS, actual_drift)
        for name, columns, _expected, actual in policy_tables:
            _write_rows(exp / name, columns, actual)
        (exp / "summary.json").write_text(
            json.dumps(projected, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        assert result.exit_code == _expected_exit_code(case), (
            f"{case.name}: exit code {result.exit_code}, expected {_expected_exit_code(case)}"
        )
        assert not left_out_problem, f"{case.name}: {left_out_problem}"
        pytest.skip(f"{case.name}: expected/ rewritten from the actual output; review git diff")

    failures: list[str] = [left_out_problem] if left_out_problem else []
    expected_sits = _read_rows(exp / "situations.csv", SITUATION_COLUMNS)
    if actual_sits != expected_sits:
        failures.append(_rows_diff("situations.csv", SITUATION_COLUMNS, expected_sits, actual_sits))
    expected_drift = _read_rows(exp / "drift.csv", DRIFT_COLUMNS)
    if actual_drift != expected_drift:
        failures.append(_rows_diff("drift.csv", DRIFT_COLUMNS, expected_drift, actual_drift))
    for name, columns, expected_rows, actual_rows in policy_tables:
        if actual_rows != expected_rows:
            failures.append(_rows_diff(name, columns, expected_rows, actual_rows))
    if projected != expected_summary:
        failures.append(
            "summary.json differs\n"
            f"  expected: {json.dumps(expected_summary, sort_keys=True)}\n"
            f"  actual:   {json.dumps(projected, sort_keys=True)}"
        )
    if result.exit_code != _expected_exit_code(case):
        failures.append(f"exit code {result.exit_code}, expected {_expected_exit_code(case)}")
    assert not failures, f"{case.name}: {readme}\n" + "\n".join(failures)


def _parquet_problem(outdir: Path, csv_rows: list[Row], summary: dict[str, Any]) -> str | None:
    """situations.parquet holds every row of situations.csv and, besides, exactly
    the linked accounts in sync that summary.json says the CSV leaves out."""
    from recondiff.io.csvsafe import restore

    columns = ", ".join(
        f"array_to_string({c}, ';')" if c == "candidates" else c for c in SITUATION_COLUMNS
    )
    every_row = _parquet_rows(outdir / "situations.parquet", columns)
    in_sync = [r for r in every_row if (r[0], r[1]) == ("linked", "in_sync")]
    findings = [r for r in every_row if (r[0], r[1]) != ("linked", "in_sync")]
    csv_rows = sorted(tuple(restore(c) for c in r) for r in csv_rows)
    left_out = summary["outputs"]["situations_csv"]["in_sync_left_out"]
    if findings != csv_rows:
        return _rows_diff("situations.parquet but linked in sync, against situations.csv",
                          SITUATION_COLUMNS, findings, csv_rows)
    if len(in_sync) != left_out:
        return (f"situations.parquet has {len(in_sync)} linked in sync, summary.json "
                f"outputs.situations_csv.in_sync_left_out says {left_out}")
    return None


def _policy_tables(case: Path, outdir: Path) -> list[tuple[str, tuple[str, ...], list[Row], list[Row]]]:
    """(file name, columns, expected rows, actual rows) of each policy file the
    case holds (every one of them when it has a [[policy]] and the golden files
    are being rewritten)."""
    exp = case / "expected"
    tables: list[tuple[str, tuple[str, ...], list[Row], list[Row]]] = []
    for name, columns, read_actual in (
        ("expected.csv", POLICY_EXPECTED_COLUMNS, _actual_policy_expected),
        ("policies.csv", POLICY_STATE_COLUMNS, _actual_policy_state),
        ("policy_conflicts.csv", POLICY_CONFLICT_COLUMNS,
         lambda out: _read_rows(out / "policy_conflicts.csv", POLICY_CONFLICT_COLUMNS)),
    ):
        present = (exp / name).is_file()
        if not present and not (UPDATE_GOLDEN and _has_policies(case)):
            continue
        expected_rows = _read_rows(exp / name, columns) if present else []
        tables.append((name, columns, expected_rows, read_actual(outdir)))
    return tables
