"""Side-by-side benchmark: recondiff end to end, the read limit, and datacompy,
each as a whole process on the same generated snapshots.

    python benchmarks/run.py --sizes 1000000,3000000,10000000

For every size it generates the scenario (benchmarks/generate.py, cached in
--work), runs each tool as a child process, records wall time and peak RSS
(wait4's ru_maxrss), checks recondiff's summary.json against the injected
truth (a wrong count fails the run), and writes a Markdown table with the
machine, the date and the command to --out.

datacompy runs under a memory cap (--datacompy-cap-gb): a process over the cap
is killed and reported as such, rather than skipped.

This machine's speed drifts by a third within an hour, for every tool. Sizes up
to --repeat-up-to therefore run --repeat rounds, each round running every tool
once (interleaved, so a slow minute hits all of them); the table gives each
tool's median wall time and peak RSS, and the wall time of every round.

The machine is a virtual machine that hands freed memory back to its host,
and touching that memory again is costly (benchmarks/README.md has the
measurements): the table therefore gives each run's user and system CPU time,
and the header the wall time of touching 1 GiB of fresh memory before each
size (--no-memory-probe to skip).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import write_config  # noqa: E402


@dataclass
class Measure:
    tool: str
    size: int
    wall: float
    rss_mb: float
    outcome: str
    correct: str = ""
    phases: str = ""
    timings: dict[str, float] | None = None  # summary.json `timings`, by phase
    walls: tuple[float, ...] = ()
    user: float = 0.0  # CPU seconds of the process (wait4), in user space
    sys: float = 0.0  # and in the kernel: mostly page faults here


@dataclass
class Usage:
    wall: float
    rss_mb: float
    outcome: str
    user: float
    sys: float


def run_process(
    argv: list[str], cwd: Path, cap_mb: float | None = None, log_name: str | None = None
) -> Usage:
    """Run one child; return its wall seconds, peak RSS MB, outcome and CPU time.

    os.wait4 returns the resource usage of exactly this child, so ru_maxrss is
    its own peak resident set (Linux reports it in KiB)."""
    log = cwd / f".{log_name or (Path(argv[1]).stem if len(argv) > 1 else 'run')}.stderr"
    t0 = time.perf_counter()
    with open(os.devnull, "wb") as devnull, open(log, "wb") as errors:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=devnull, stderr=errors)
        killed = threading.Event()

        def watch() -> None:
            status = Path(f"/proc/{proc.pid}/status")
            while not done.is_set():
                try:
                    for line in status.read_text().splitlines():
                        if line.startswith("VmRSS:") and int(line.split()[1]) / 1024 > (
                            cap_mb or 0
                        ):
                            killed.set()
                            os.kill(proc.pid, signal.SIGKILL)
                except (FileNotFoundError, ProcessLookupError, ValueError):
                    return
                time.sleep(0.1)

        done = threading.Event()
        if cap_mb:
            threading.Thread(target=watch, daemon=True).start()
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if killed.is_set():
        outcome = f"killed over the {(cap_mb or 0) / 1024:.0f} GB cap"
    elif code < 0:
        outcome = f"killed by signal {-code}"
    elif code not in (0, 1):
        last = (log.read_text(errors="replace").strip().splitlines() or ["?"])[-1]
        outcome = f"failed ({code}): {last[:100]}"
    else:
        outcome = "ok"
    return Usage(wall, usage.ru_maxrss / 1024, outcome, usage.ru_utime, usage.ru_stime)


# bytearray(n) zero-fills its n bytes: one page fault a page of the 1 GiB, in a
# child of its own. The time it takes is what fresh memory costs here now.
_TOUCH = "bytearray(1 << 30)"


def warm_page_cache(*paths: Path) -> None:
    """Read the files once, so that no tool pays for the disk: generate.py
    does not rewrite cached data, and the first tool to read it after a big
    run may find it evicted. The 10M read limit took 17.4 s at 20:38 UTC on
    2026-12-02, and the write floor right after it, which reads the same and
    writes 1.5 GB besides, 15.6 s (other runs: read limit 5.7 to 7.4 s)."""
    for path in paths:
        with path.open("rb") as f:
            while f.read(1 << 24):
                pass


def memory_probe(cwd: Path) -> float:
    """Wall seconds a fresh process takes to touch 1 GiB, start-up subtracted."""
    base = run_process([sys.executable, "-c", "pass"], cwd, log_name="probe")
    touch = run_process([sys.executable, "-c", _TOUCH], cwd, log_name="probe")
    return max(0.0, touch.wall - base.wall)


def check(summary_path: Path, truth: dict[str, int]) -> list[str]:
    s = json.loads(summary_path.read_text())
    got = {
        "linked": s["situations"]["linked"],
        "missing": s["situations"]["missing"],
        "deleted_in_repository": s["situations"]["deleted_in_repository"],
        "unmatched": s["situations"]["unmatched"],
        "drift_title": s["drift"]["by_attribute"]["title"],
        "drift_memberof": s["drift"]["by_attribute"]["memberOf"],
        "drift_accounts": s["drift"]["accounts"],
    }
    wrong = [f"{k}: {got[k]} != {truth[k]}" for k in got if got[k] != truth[k]]
    others = {k: v for k, v in s["situations"].items() if k not in got and v}
    wrong += [f"{k}: {v} != 0" for k, v in others.items()]
    return wrong


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {system}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,3000000,10000000")
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/recondiff-bench"))
    parser.add_argument("--tools", default="read-limit,write-floor,recondiff,datacompy")
    parser.add_argument("--spark-master", default="local[2]",
                        help="the master of tool recondiff-spark (issue 21)")
    parser.add_argument("--datacompy-cap-gb", type=float, default=16.0)
    parser.add_argument(
        "--spill-at",
        type=int,
        default=10_000_000,
        help="also run recondiff with memory_limit=16GB at this size (0: never); "
        "the default run uses recondiff's default limit, 1GB, and spills",
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds at the small sizes")
    parser.add_argument("--repeat-up-to", type=int, default=1_000_000,
                        help="sizes up to this run --repeat rounds; larger ones, one")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--no-memory-probe", dest="memory_probe", action="store_false",
                        help="do not time touching 1 GiB of fresh memory before each size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    tools = args.tools.split(",")
    results: list[Measure] = []
    failures: list[str] = []
    probes: list[str] = []
    py = sys.executable
    for n in sizes:
        directory = args.work / str(n)
        print(f"== {n:,} identities: generating in {directory}", file=sys.stderr)
        # Generated in a child process: a big parent would inflate every later
        # child's ru_maxrss (the high-water mark is inherited through fork).
        subprocess.run(
            [py, str(HERE / "generate.py"), str(n), str(directory)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        truth = json.loads((directory / "truth.json").read_text())
        ep, repo = directory / "endpoint.parquet", directory / "repository.parquet"
        warm_page_cache(ep, repo)
        if args.memory_probe:
            probe = memory_probe(directory)
            probes.append(f"{probe:.1f} s before {n:,}")
            print(f"   touching 1 GiB of fresh memory: {probe:.1f} s", file=sys.stderr)
        runs: list[tuple[str, list[str], float | None, Path | None]] = []
        if "read-limit" in tools:
            runs.append(
                ("read limit", [py, str(HERE / "read_limit.py"), str(ep), str(repo)], None, None)
            )
        if "write-floor" in tools:
            floor = [py, str(HERE / "write_floor.py"), str(ep), str(repo), str(directory / "floor")]
            runs.append(("write floor", floor, None, None))
        if "recondiff" in tools:
            out = directory / "out"
            runs.append(
                (
                    "recondiff (default memory_limit 1GB)",
                    [
                        py,
                        "-m",
                        "recondiff.cli.main",
                        "compare",
                        "-q",
                        "-c",
                        str(directory / "recondiff.toml"),
                        "-o",
                        str(out),
                    ],
                    None,
                    out,
                )
            )
            if n == args.spill_at:
                cfg = write_config(directory, "16GB")
                out1 = directory / "out-16GB"
                runs.append(
                    (
                        "recondiff, memory_limit 16GB",
                        [
                            py,
                            "-m",
                            "recondiff.cli.main",
                            "compare",
                            "-q",
                            "-c",
                            str(cfg),
                            "-o",
                            str(out1),
                        ],
                        None,
                        out1,
                    )
                )
        if "recondiff-spark" in tools:
            cfg = write_config(directory, spark=args.spark_master)
            out2 = directory / "out-spark"
            runs.append(
                (
                    f"recondiff on Spark {args.spark_master}",
                    [py, "-m", "recondiff.cli.main", "compare", "-q", "-c", str(cfg),
                     "-o", str(out2)],
                    None,
                    out2,
                )
            )
        if "datacompy" in tools:
            runs.append(
                (
                    "datacompy (polars)",
                    [py, str(HERE / "datacompy_run.py"), str(ep), str(repo)],
                    args.datacompy_cap_gb * 1024,
                    None,
                )
            )
        rounds = max(1, args.repeat) if n <= args.repeat_up_to else 1
        measured: dict[str, list[Measure]] = {tool: [] for tool, *_ in runs}
        for round_ in range(1, rounds + 1):
            for tool, argv, cap, out in runs:
                m = measure(tool, n, argv, cap, out, directory, truth, failures)
                label = f" (round {round_}/{rounds})" if rounds > 1 else ""
                print(f"   {tool}{label}: {m.wall:.1f} s, {m.rss_mb:.0f} MB, {m.outcome} "
                      f"{m.correct}", file=sys.stderr)
                measured[tool].append(m)
        results += [median(ms) for ms in measured.values()]
    text = report(results, args, probes)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def measure(
    tool: str,
    n: int,
    argv: list[str],
    cap: float | None,
    out: Path | None,
    directory: Path,
    truth: dict[str, int],
    failures: list[str],
) -> Measure:
    """One run of one tool; recondiff's counts checked against the truth."""
    if out is not None:  # a fresh output directory: no run history from before
        shutil.rmtree(out, ignore_errors=True)
    u = run_process(argv, directory, cap)
    m = Measure(tool, n, u.wall, u.rss_mb, u.outcome, user=u.user, sys=u.sys)
    if out is not None and m.outcome == "ok":
        wrong = check(out / "summary.json", truth)
        timings = json.loads((out / "summary.json").read_text())["timings"]
        m.phases = ", ".join(f"{k} {v:.1f}" for k, v in timings.items())
        m.timings = {k: float(v) for k, v in timings.items()}
        m.correct = "yes" if not wrong else "NO: " + "; ".join(wrong)
        if wrong:
            failures.append(f"{tool} at {n:,}: " + "; ".join(wrong))
    elif out is not None:
        failures.append(f"{tool} at {n:,}: {m.outcome}")
    return m


def median(runs: list[Measure]) -> Measure:
    """A tool's runs at one size as one row: the median wall time and peak RSS
    (taken separately), the phases and CPU times of the run with the median
    wall time, the first outcome that is not ok, and every run's wall time."""
    by_wall = sorted(runs, key=lambda m: m.wall)
    middle = by_wall[len(by_wall) // 2]
    rss = sorted(m.rss_mb for m in runs)[len(runs) // 2]
    bad = [m for m in runs if m.outcome != "ok" or (m.correct and m.correct != "yes")]
    first = bad[0] if bad else middle
    return Measure(
        middle.tool, middle.size, middle.wall, rss, first.outcome, first.correct,
        middle.phases, middle.timings, tuple(m.wall for m in runs), middle.user, middle.sys,
    )


def phase_line(m: Measure, limit: float | None) -> str:
    """One run's phases, each in seconds and as a multiple of the read limit."""
    timings = dict(m.timings or {})
    timings["other"] = max(0.0, m.wall - sum(timings.values()))
    parts = [
        f"{k} {v:.1f}" + (f" ({v / limit:.2f}×)" if limit else "") for k, v in timings.items()
    ]
    return f"- {m.size:,}, {m.tool}: " + ", ".join(parts)


def report(results: list[Measure], args: argparse.Namespace, probes: list[str]) -> str:
    command = "python benchmarks/run.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    lines = [
        "# recondiff benchmark",
        "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {machine()}",
        f"- command: `{command}`",
        f"- python {platform.python_version()}",
        f"- rounds: {max(1, args.repeat)} at sizes up to {args.repeat_up_to:,}, interleaved"
        " (each round runs every tool once; the medians are shown), 1 above",
        *(
            [f"- touching 1 GiB of fresh memory took {', '.join(probes)} (wall time;"
             " the tools pay it in proportion to the memory they touch; see benchmarks/README.md)"]
            if probes else []
        ),
        "",
        "| identities | tool | wall (s) | peak RSS (MB) | × read limit | outcome"
        " | counts correct | CPU user + sys (s) | wall of each round (s) |",
        "| ---: | --- | ---: | ---: | ---: | --- | --- | ---: | --- |",
    ]
    limits = {m.size: m.wall for m in results if m.tool == "read limit" and m.outcome == "ok"}
    for m in results:
        ratio = f"{m.wall / limits[m.size]:.2f}" if m.size in limits else ""
        each = ", ".join(f"{w:.1f}" for w in m.walls) if len(m.walls) > 1 else ""
        lines.append(
            f"| {m.size:,} | {m.tool} | {m.wall:.1f} | {m.rss_mb:,.0f} | {ratio}"
            f" | {m.outcome} | {m.correct} | {m.user:.1f} + {m.sys:.1f} | {each} |"
        )
    by = {(m.size, m.tool): m for m in results}
    notes = []
    for size in sorted({m.size for m in results}):
        r = by.get((size, "recondiff (default memory_limit 1GB)"))
        d = by.get((size, "datacompy (polars)"))
        f = by.get((size, "write floor"))
        if r and f and f.outcome == "ok" and r.outcome == "ok":
            notes.append(
                f"- {size:,}: recondiff takes {r.wall / f.wall:.2f}× the write floor (the read "
                "limit plus writing the situations table as Parquet and its findings as CSV;"
                " not the issue's floor)"
            )
        if r and d and d.outcome == "ok" and r.outcome == "ok" and r.correct == "yes":
            r_cpu, d_cpu = r.user + r.sys, d.user + d.sys
            wins = {(True, True): "both", (True, False): "wall only", (False, True): "CPU only"}
            won = wins.get((d.wall > r.wall, d_cpu > r_cpu), "neither")
            notes.append(
                f"- {size:,}: datacompy takes {d.wall / r.wall:.2f}× recondiff's wall time and "
                f"{d_cpu / max(r_cpu, 1e-9):.2f}× its CPU time (user + sys; recondiff wins "
                f"{won}); "
                f"recondiff needs {r.rss_mb / d.rss_mb:.3f} of datacompy's peak memory "
                "(target: at most 0.200)"
            )
    phases = [phase_line(m, limits.get(m.size)) for m in results if m.timings]
    if phases:
        notes += ["", "recondiff's phases (summary.json `timings`, seconds and × the read limit"
                  " at that size; `other` is the wall time outside them: start-up, the run"
                  " history, the renames):", *phases]
    return "\n".join([*lines, "", *notes]) + "\n"


if __name__ == "__main__":
    sys.exit(main())
