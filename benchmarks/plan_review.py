"""Review commands on large plans, with the real CLI (issue 16 point 2).

    .venv/bin/python benchmarks/plan_review.py --plan /var/tmp/pr/plan.jsonl \\
        --plan /var/tmp/pr/plan1m.jsonl --work /var/tmp/prwork --repeat 3

Each plan (a compare's ``plan.jsonl``: the 10M and 1M runs of benchmarks/run.py)
is copied into ``--work``; then each command runs as its own child process
(wall time, CPU time and peak RSS from ``os.wait4``), ``--repeat`` interleaved
rounds, medians reported. The ledger is removed before each round, so every
round decides the same events:

  show          recondiff plan show PLAN (header, counts, first 200 alerts and pending)
  approve1      recondiff plan approve PLAN --event ID (the plan's first pending event)
  approveSel    recondiff plan approve PLAN --attribute ATTR (the attribute with most
                single-attribute pending events: memberOf, 100,000 at 10M)
  showDecided   plan show again, with that ledger (100,000 ids folded in)
  applyRead     what apply does with the plan, without a server: the first pass (every
                line's schema, the digest, decisions, the mass-change counts), then
                the second (each line held to the first pass's hash); memory flat

Targets (the issue): 10M under 5 s and 1 GB each, 1M under 1 s. This machine's
two cores are shared: compare CPU time too, and rerun when the load is high.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

EXE = str(Path(sys.executable).with_name("recondiff"))


@dataclass
class Run:
    plan: str
    op: str
    wall: float
    rss_mb: float
    cpu: float


def child(argv: list[str]) -> tuple[float, float, float]:
    t0 = time.perf_counter()
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen(argv, stdout=devnull, stderr=devnull)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) not in (0,):
        raise SystemExit(f"failed ({os.waitstatus_to_exitcode(status)}): {' '.join(argv)}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def survey(plan: Path) -> tuple[str, str, int]:
    """The first pending event's id, and the attribute most single-attribute pending
    events change (with their count)."""
    first = ""
    by_attribute: Counter[str] = Counter()
    with plan.open("rb") as f:
        f.readline()
        for line in f:
            event = orjson.loads(line)
            if event["approval"]["state"] != "pending":
                continue
            first = first or event["id"]
            names = {c["attribute"].lower() for c in event["changes"]}
            if len(names) == 1:
                by_attribute[names.pop()] += 1
    attribute, count = by_attribute.most_common(1)[0]
    return first, attribute, count


def commands(plan: Path, first: str, attribute: str) -> dict[str, list[str]]:
    return {
        "show": [EXE, "plan", "show", str(plan)],
        "approve1": [EXE, "plan", "approve", str(plan), "--event", first, "--by", "bench"],
        "approveSel": [
            EXE, "plan", "approve", str(plan), "--attribute", attribute, "--by", "bench"
        ],
        "showDecided": [EXE, "plan", "show", str(plan)],
        "applyRead": [sys.executable, "-c", APPLY_READ.format(plan=str(plan))],
    }  # fmt: skip


APPLY_READ = """
from recondiff.io.signing import Trust
from recondiff.plan.checks import mass_counts
from recondiff.plan.trust import VerifiedPlan
source = VerifiedPlan({plan!r}, Trust(), allow_unsigned=True)
runs = (e for e in source.scan()
        if e["target"] == "endpoint" and e["approval"]["state"] in ("auto", "approved"))
mass_counts(source.header, None, runs)
sum(1 for _ in source.events())
"""


def run_plan(source: Path, work: Path, repeat: int) -> list[Run]:
    plan = work / source.stem / "plan.jsonl"
    plan.parent.mkdir(parents=True, exist_ok=True)
    if not plan.exists() or plan.stat().st_size != source.stat().st_size:
        shutil.copyfile(source, plan)
    ledger = plan.with_name("plan.decisions.jsonl")
    first, attribute, count = survey(plan)
    print(f"{source.stem}: approveSel = --attribute {attribute} ({count} events)", flush=True)
    samples: dict[str, list[tuple[float, float, float]]] = {}
    for _ in range(repeat):
        ledger.unlink(missing_ok=True)
        for op, argv in commands(plan, first, attribute).items():
            if op == "approveSel":
                ledger.unlink(missing_ok=True)  # the selector decides all its events again
            samples.setdefault(op, []).append(child(argv))
    return [
        Run(
            source.stem,
            op,
            statistics.median(s[0] for s in runs),
            statistics.median(s[1] for s in runs),
            statistics.median(s[2] for s in runs),
        )
        for op, runs in samples.items()
    ]


def table(rows: list[Run]) -> str:
    out = [
        "| plan | command | wall s | CPU s | peak RSS MB |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    out += [f"| {r.plan} | {r.op} | {r.wall:.2f} | {r.cpu:.2f} | {r.rss_mb:.0f} |" for r in rows]
    return "\n".join(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--plan", action="append", required=True, help="a plan.jsonl (repeatable)")
    p.add_argument("--work", default="/var/tmp/prwork")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", help="also write the Markdown table here")
    args = p.parse_args()
    work = Path(args.work)
    started = datetime.now(UTC).isoformat(timespec="minutes")
    load0 = os.getloadavg()[0]
    rows: list[Run] = []
    for source in map(Path, args.plan):
        rows += run_plan(source, work, args.repeat)
    text = (
        f"{platform.node()}, {os.cpu_count()} cores, {started} UTC, load average before "
        f"{load0:.2f}, after {os.getloadavg()[0]:.2f}; {args.repeat} rounds (medians)\n\n"
        + table(rows)
        + "\n"
    )
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
