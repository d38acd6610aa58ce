"""How far one machine goes: `recondiff compare` on the benchmark scenario at
one size, with the default memory limit, measuring what it spills to disk.

    python benchmarks/spill.py --size 30000000 --work /var/tmp/rb

The run's work directory (ingested snapshots, DuckDB's spill files) lives in
TMPDIR, so the child gets a fresh TMPDIR of its own under --work; a thread
samples that folder's size twice a second (the spill volume is its peak) and
the child's resident set. Prints one Markdown line: size, wall, CPU, peak RSS,
peak spill, the read limit's wall on the same files, and the ratio. The counts
are checked against the scenario's truth (a wrong count fails the run).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import generate, write_config  # noqa: E402
from run import check  # noqa: E402


def folder_bytes(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):  # removed while we looked
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def measure(argv: list[str], tmpdir: Path) -> dict[str, float | int]:
    """Run ``argv`` with TMPDIR=tmpdir: wall, CPU, peak RSS and peak spill."""
    env = os.environ | {"TMPDIR": str(tmpdir)}
    peak = {"spill": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak["spill"] = max(peak["spill"], folder_bytes(tmpdir))
            time.sleep(0.5)

    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    watcher.join()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"{argv[0]} exited {code}")
    return {
        "wall": time.perf_counter() - started,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "spill_mb": peak["spill"] / 2**20,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=30_000_000)
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/recondiff-bench"))
    args = parser.parse_args()
    directory = args.work / str(args.size)
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / "truth.json").exists():
        generate(args.size, directory)
    if not (directory / "recondiff.toml").exists():
        write_config(directory)
    truth = json.loads((directory / "truth.json").read_text())
    tmpdir = directory / "tmpdir"
    shutil.rmtree(tmpdir, ignore_errors=True)
    tmpdir.mkdir()
    py = sys.executable
    files = [str(directory / "endpoint.parquet"), str(directory / "repository.parquet")]
    limit = measure([py, str(HERE / "read_limit.py"), *files], tmpdir)
    out = directory / "out"
    run = measure(
        [py, "-m", "recondiff.cli.main", "compare", "-q", "-c",
         str(directory / "recondiff.toml"), "-o", str(out)],
        tmpdir,
    )  # fmt: skip
    shutil.rmtree(tmpdir, ignore_errors=True)
    wrong = check(out / "summary.json", truth)
    if wrong:
        raise SystemExit(f"wrong counts at {args.size:,}: {'; '.join(wrong)}")
    timings = json.loads((out / "summary.json").read_text()).get("timings", {})
    print("| identities | wall | CPU | peak RSS | peak spill | read limit | × read limit |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {args.size:,} | {run['wall']:.1f} s | {run['cpu']:.1f} s | {run['rss_mb']:,.0f} MB "
        f"| {run['spill_mb']:,.0f} MB | {limit['wall']:.1f} s | {run['wall'] / limit['wall']:.1f} |"
    )
    print(f"phases: {json.dumps(timings)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
