"""Issue 18 point 6: what identity policies cost. recondiff compare on the
policy scenario (benchmarks/policy_scenario.py: 50 policies, max_recursion 3)
against the same run without the policies, on the same files.

    python benchmarks/policies.py --size 1000000 --work /var/tmp/rbp

Both configs compare the same attributes (the base scenario's 13, plus
company, division, physicalDeliveryOfficeName and extensionAttribute1, which
the policies govern); the one with policies adds [policies] and the 50
[[policy]] entries, nothing else. Each round runs both, as separate
processes (benchmarks/run.py's run_process: wall time, peak RSS, user and
system CPU from wait4), in alternating order; the table gives the medians of
--repeat rounds, every round's wall time, and the ratio with / without
(the issue's target: under 1.5). The machine's load (uptime) is recorded
before each round: compare ratios within one run, not across runs.

Both runs are checked: situations and drift by attribute against the truth
generate.py computed (without policies: the repository's raw columns; with
them: the reference evaluation's expected state), and with policies,
policies.parquet's applied and pending lists identity by identity against the
reference (reference.parquet). A wrong answer fails the run (exit 1) whatever
the timings. --append writes the table under its own heading at the end of
benchmarks/RESULTS.md (replacing an earlier one of this script).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import write_config  # noqa: E402
from run import Measure, machine, median, memory_probe, run_process, warm_page_cache  # noqa: E402

WITHOUT = "without policies"
WITH = "50 policies, max_recursion 3"
SAME = "same drift, no policies"
HEADING = "## Identity policies (issue 18 point 6, benchmarks/policies.py)"


def load() -> str:
    """The 1, 5 and 15 minute load averages, as uptime gives them."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def check_summary(summary: dict[str, Any], truth: dict[str, Any], drift_key: str) -> list[str]:
    """Situations and drift by attribute against the truth."""
    wrong = []
    situations = summary["situations"]
    for key in ("linked", "missing", "deleted_in_repository", "unmatched"):
        if situations[key] != truth[key]:
            wrong.append(f"{key}: {situations[key]} != {truth[key]}")
    expected = truth[drift_key]
    by_attribute = summary["drift"]["by_attribute"]
    for attribute, count in by_attribute.items():
        want = expected.get(attribute, 0)
        if count != want:
            wrong.append(f"drift {attribute}: {count} != {want}")
    if summary["drift"]["accounts"] != expected["accounts"]:
        wrong.append(f"drift accounts: {summary['drift']['accounts']} != {expected['accounts']}")
    return wrong


def check_lists(out: Path, reference: Path) -> list[str]:
    """policies.parquet's lists against the reference, identity by identity
    (as sets, over all passes)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 1")
    wrong = []
    for column, judged in (
        ("applied", True),
        ("pending", True),
        ("allocated", True),
        ("deallocated", True),
        ("reallocated", True),
    ):
        row = con.execute(
            f"""SELECT count(*) FROM read_parquet($got) g
                FULL JOIN read_parquet($ref) r ON g.identity_key = r.employee_id
                WHERE list_sort(list_distinct(coalesce(g.{column}, []))) IS DISTINCT FROM
                      list_sort(list_distinct(coalesce(r.{column}, [])))""",
            {"got": str(out / "policies.parquet"), "ref": str(reference)},
        ).fetchone()
        differing = int(row[0]) if row else -1
        if differing:
            note = f"{column}: {differing:,} identities differ from the reference"
            wrong.append(note if judged else f"(not judged) {note}")
    return wrong


def same_drift_config(directory: Path, plain_cfg: str, policy_cfg: str) -> str:
    """A config without [[policy]] whose repository is the snapshot the policies
    derived (benchmarks/keep_derived.py, one untimed run): the same drift as the
    run with policies."""
    derived = directory / "repository-derived.parquet"
    print("   same drift: deriving the repository once (untimed)", file=sys.stderr)
    subprocess.run(
        [
            sys.executable,
            str(HERE / "keep_derived.py"),
            "compare",
            "-q",
            "-c",
            str(directory / policy_cfg),
            "-o",
            str(directory / "out-derive"),
        ],
        env=os.environ | {"KEEP_DERIVED": str(derived)},
        check=False,
        stdout=subprocess.DEVNULL,
    )
    if not derived.exists():
        raise SystemExit("benchmarks/policies.py: the run with policies left no derived snapshot")
    shutil.rmtree(directory / "out-derive", ignore_errors=True)
    text = (directory / plain_cfg).read_text(encoding="utf-8")
    text = text.replace('snapshot = "repository.parquet"', f'snapshot = "{derived.name}"', 1)
    if derived.name not in text:
        raise SystemExit(f"benchmarks/policies.py: no repository snapshot line in {plain_cfg}")
    path = directory / ("same-drift-" + plain_cfg)
    path.write_text(text, encoding="utf-8")
    return path.name


def run_round(
    runs: list[tuple[str, list[str], Path]], directory: Path
) -> list[tuple[str, Measure, dict[str, Any]]]:
    out = []
    for tool, argv, result in runs:
        shutil.rmtree(result, ignore_errors=True)
        u = run_process(argv, directory, log_name=result.name)
        m = Measure(tool, 0, u.wall, u.rss_mb, u.outcome, user=u.user, sys=u.sys)
        summary: dict[str, Any] = {}
        if u.outcome == "ok":
            summary = json.loads((result / "summary.json").read_text())
            m.phases = ", ".join(f"{k} {v:.1f}" for k, v in summary["timings"].items())
        out.append((tool, m, summary))
    return out


def table(rows: list[Measure], n: int) -> list[str]:
    lines = [
        "| identities | run | wall (s) | CPU user + sys (s) | peak RSS (MB) | outcome"
        " | correct | wall of each round (s) |",
        "| ---: | --- | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for m in rows:
        each = ", ".join(f"{w:.1f}" for w in m.walls)
        lines.append(
            f"| {n:,} | {m.tool} | {m.wall:.2f} | {m.user:.1f} + {m.sys:.1f} | {m.rss_mb:,.0f}"
            f" | {m.outcome} | {m.correct} | {each} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/recondiff-bench-policies"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--append", action="store_true", help="write the table at the end of benchmarks/RESULTS.md"
    )
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument(
        "--memory-limit",
        default=None,
        help="[engine] memory_limit for both runs (default: recondiff's, 1GB)",
    )
    parser.add_argument(
        "--same-drift",
        action="store_true",
        help="a third run: the repository the policies derived, compared without [[policy]]"
        " (the same drift as the run with policies, so the policies phase's own cost shows)",
    )
    parser.add_argument(
        "--note", default="", help="a line for the header, e.g. which engine ran (PYTHONPATH=...)"
    )
    args = parser.parse_args()
    n, py = args.size, sys.executable
    directory = args.work / str(n)
    print(f"== {n:,} identities, policy scenario: generating in {directory}", file=sys.stderr)
    subprocess.run(
        [py, str(HERE / "generate.py"), str(n), str(directory), "--policies"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    truth = json.loads((directory / "truth.json").read_text())
    warm_page_cache(directory / "endpoint.parquet", directory / "repository.parquet")
    probe = memory_probe(directory)
    print(f"   touching 1 GiB of fresh memory: {probe:.1f} s", file=sys.stderr)

    def argv(config: str, out: Path) -> list[str]:
        return [
            py,
            "-m",
            "recondiff.cli.main",
            "compare",
            "-q",
            "-c",
            str(directory / config),
            "-o",
            str(out),
        ]

    plain_cfg, policy_cfg = "recondiff.toml", "recondiff-policies.toml"
    if args.memory_limit:  # the same limit for both runs
        plain_cfg = write_config(directory, args.memory_limit, policies=False).name
        policy_cfg = write_config(directory, args.memory_limit, policies=True).name
    plain = (WITHOUT, argv(plain_cfg, directory / "out-without"), directory / "out-without")
    policy = (WITH, argv(policy_cfg, directory / "out-with"), directory / "out-with")
    runs = [plain, policy]
    if args.same_drift:
        runs.append(
            (
                SAME,
                argv(same_drift_config(directory, plain_cfg, policy_cfg), directory / "out-same"),
                directory / "out-same",
            )
        )
    measured: dict[str, list[Measure]] = {tool: [] for tool, _, _ in runs}
    ratios: list[float] = []
    loads: list[str] = []
    failures: list[str] = []
    summaries: dict[str, dict[str, Any]] = {}
    for round_ in range(1, max(1, args.repeat) + 1):
        loads.append(load())
        order = runs if round_ % 2 else runs[::-1]
        walls = {}
        for tool, m, summary in run_round(order, directory):
            key = "drift_without" if tool == WITHOUT else "drift_with"
            wrong = check_summary(summary, truth, key) if summary else [m.outcome]
            if summary:
                m.correct = "yes" if not wrong else "NO: " + "; ".join(wrong)
            failures += [f"{tool}, round {round_}: {w}" for w in wrong]
            measured[tool].append(m)
            walls[tool] = m.wall
            summaries[tool] = summary
            print(
                f"   round {round_}, {tool}: {m.wall:.2f} s, {m.user:.1f} + {m.sys:.1f} s CPU, "
                f"{m.rss_mb:.0f} MB, {m.outcome}, correct: {m.correct}",
                file=sys.stderr,
            )
        ratios.append(walls[WITH] / walls[WITHOUT])
    loads.append(load())
    # the last round's outputs, identity by identity (after the timings: the
    # parent reads 1M rows here, which would inflate the children's ru_maxrss)
    if (directory / "out-with" / "policies.parquet").exists():
        lists = check_lists(directory / "out-with", directory / "reference.parquet")
        failures += [f"{WITH}: {w}" for w in lists if not w.startswith("(not judged)")]
    else:
        lists = ["policies.parquet missing"]
        failures.append(f"{WITH}: no policies.parquet")
    counts = summaries.get(WITH, {}).get("policies") or {}
    for key, ref in (
        ("identities_changed", "ref_identities_changed"),
        ("allocated", "ref_allocated"),
        ("deallocated", "ref_deallocated"),
        ("reallocated", "ref_reallocated"),
        ("pending", "ref_identities_pending"),
        ("unknown_applied", "ref_unknown_applied"),
    ):
        if counts and counts.get(key) != truth[ref]:
            failures.append(f"{WITH}: summary policies.{key} {counts.get(key)} != {truth[ref]}")
    rows = [median(measured[tool]) for tool, _, _ in runs]
    text = report(rows, n, ratios, loads, probe, summaries, truth, lists, args.note)
    print(text)
    if args.append:
        append(args.results, text)
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def report(
    rows: list[Measure],
    n: int,
    ratios: list[float],
    loads: list[str],
    probe: float,
    summaries: dict[str, dict[str, Any]],
    truth: dict[str, Any],
    lists: list[str],
    note: str = "",
) -> str:
    without, with_ = rows[:2]
    command = "python benchmarks/policies.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    cpu = (with_.user + with_.sys) / max(without.user + without.sys, 1e-9)
    middle = sorted(ratios)[len(ratios) // 2]
    lines = [
        HEADING,
        "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {machine()}",
        f"- command: `{command}`",
        f"- python {platform.python_version()}",
        *([f"- {note}"] if note else []),
        f"- load average (1, 5, 15 min) before each round, and after: {'; '.join(loads)}",
        f"- touching 1 GiB of fresh memory took {probe:.1f} s before the rounds",
        f"- rounds: {len(ratios)}, each running both configs (alternating which goes first);"
        " medians shown",
        "",
        *table(rows, n),
        "",
        f"- with / without policies: wall {with_.wall / without.wall:.2f}× (of the medians;"
        f" within each round {', '.join(f'{r:.2f}' for r in ratios)}, median {middle:.2f}),"
        f" CPU {cpu:.2f}×, peak RSS {with_.rss_mb / without.rss_mb:.2f}× (target: wall under 1.5×)",
    ]
    if len(rows) > 2:
        same = rows[2]
        lines.append(
            f"- same drift without policies / without: wall {same.wall / without.wall:.2f}×"
            " (what the drift the policies expose costs the later phases, with no policies"
            f" phase); with policies / same drift: wall {with_.wall / same.wall:.2f}×"
            " (the policies phase's own cost)"
        )
    policies = summaries.get(WITH, {}).get("policies")
    if policies:
        lines.append(f"- summary.json `policies`: {json.dumps(policies)}")
    ref = {k: v for k, v in truth.items() if k.startswith("ref_") or k == "changes_by_pass"}
    lines.append(f"- the reference evaluation (policy_scenario.py): {json.dumps(ref)}")
    lines.append(
        "- policies.parquet against the reference: "
        + ("; ".join(lists) if lists else "every identity's five lists agree")
    )
    lines += ["", "Phases (summary.json `timings`, the median round):"]
    lines += [f"- {m.tool}: {m.phases} (s)" for m in rows if m.phases]
    return "\n".join(lines) + "\n"


def append(results: Path, text: str) -> None:
    """The section at the end of RESULTS.md, replacing an earlier one."""
    old = results.read_text(encoding="utf-8") if results.exists() else ""
    head = old.split("\n" + HEADING, 1)[0].rstrip("\n")
    results.write_text(head + "\n\n" + text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
