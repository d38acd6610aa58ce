"""Ingest benchmark (issue 19 point 6): `recondiff ingest` of a large CSV and
LDIF export, each run as a child process: wall time, CPU time, peak RSS and
records per second.

    python benchmarks/ingest.py --csv 1000000,3000000 --ldif 1000000 --repeat 3

The exports are made once from the benchmark scenario's endpoint snapshot
(benchmarks/generate.py, the AD side: 14 attributes, memberOf 5 or 6 DNs) and
cached under --work (default /var/tmp/ingest-bench, out of the repository):

- `endpoint-N.csv`: as PowerShell's Export-Csv writes it, every field quoted,
  memberOf joined with ";" (ingested with `-m memberOf`);
- `endpoint-N.ldif`: as `ldapsearch -LLL` writes it: `dn:` first, then
  objectClass (4 values), distinguishedName and the attributes, a value that
  is not ASCII (Chloé, Müller) in base64 (`attr:: ...`), lines folded at 76
  characters.

Rounds are interleaved (each round runs every file once), since this machine's
speed drifts; the table gives every round and the median. Peak RSS is wait4's
ru_maxrss of the ingest process alone. `--floor` also times a bare Python loop
over the LDIF's lines (the floor any line-by-line Python parser starts from).
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import generate  # noqa: E402
from run import machine, run_process  # noqa: E402

OBJECT_CLASSES = ("top", "person", "organizationalPerson", "user")
ATTRIBUTES = (
    "sAMAccountName", "givenName", "sn", "displayName", "mail", "title", "department",
    "l", "telephoneNumber", "departmentNumber", "employeeType", "manager", "accountExpires",
)  # fmt: skip


def scenario(n: int, work: Path, scenario_root: Path | None) -> Path:
    """The endpoint snapshot of the size-n benchmark scenario (generated if need be)."""
    if scenario_root is not None and (scenario_root / str(n) / "endpoint.parquet").exists():
        return scenario_root / str(n) / "endpoint.parquet"
    directory = work / "scenario" / str(n)
    generate(n, directory)
    return directory / "endpoint.parquet"


def make_csv(n: int, work: Path, scenario_root: Path | None) -> Path:
    path = work / f"endpoint-{n}.csv"
    if path.exists():
        return path
    source = scenario(n, work, scenario_root)
    temp = path.with_suffix(".tmp")
    con = duckdb.connect()
    con.execute(
        "COPY (SELECT * REPLACE (array_to_string(memberOf, ';') AS memberOf) "
        "FROM read_parquet($src)) TO $out (FORMAT csv, HEADER, FORCE_QUOTE *)",
        {"src": str(source), "out": str(temp)},
    )
    temp.rename(path)
    return path


def _safe(value: str) -> bool:
    """RFC 2849 SAFE-STRING, as ldapsearch decides (else the value goes base64)."""
    return (
        value.isascii()
        and not value.startswith((" ", ":", "<"))
        and not value.endswith(" ")
        and not any(c in value for c in "\x00\r\n")
    )


def _line(attr: str, value: str) -> str:
    if _safe(value):
        line = f"{attr}: {value}"
    else:
        line = f"{attr}:: {base64.b64encode(value.encode()).decode()}"
    if len(line) <= 76:
        return line
    pieces = [line[:76]] + [" " + line[i : i + 75] for i in range(76, len(line), 75)]
    return "\n".join(pieces)


def make_ldif(n: int, work: Path, scenario_root: Path | None) -> Path:
    import pyarrow.parquet as pq

    path = work / f"endpoint-{n}.ldif"
    if path.exists():
        return path
    source = pq.ParquetFile(scenario(n, work, scenario_root))
    temp = path.with_suffix(".tmp")
    classes = "".join(f"objectClass: {c}\n" for c in OBJECT_CLASSES)
    with temp.open("w", encoding="utf-8", newline="\n") as out:
        for batch in source.iter_batches(batch_size=65536):
            columns = batch.to_pydict()
            for row in range(batch.num_rows):
                dn = columns["distinguishedName"][row]
                lines = [_line("dn", dn), classes.rstrip("\n"), _line("distinguishedName", dn)]
                for attr in ATTRIBUTES:
                    value = columns[attr][row]
                    if value is not None:
                        lines.append(_line(attr, value))
                lines.extend(_line("memberOf", g) for g in columns["memberOf"][row] or ())
                out.write("\n".join(lines) + "\n\n")
    temp.rename(path)
    return path


def line_floor(path: Path) -> float:
    """Seconds a bare Python loop takes over the file's lines (bytes, counting)."""
    t0 = time.perf_counter()
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            if line[:1] == b"d":
                count += 1
    return time.perf_counter() - t0


def records_of(export: Path, work: Path, scenario_root: Path | None, n: int) -> int:
    """How many records the export of size n holds (the endpoint's rows: n less the
    missing accounts plus the orphans), cached beside it."""
    count = export.with_suffix(export.suffix + ".rows")
    if not count.exists():
        con = duckdb.connect()
        rows = con.execute(
            "SELECT count(*) FROM read_parquet($p)", {"p": str(scenario(n, work, scenario_root))}
        ).fetchall()[0][0]
        count.write_text(f"{rows}\n")
    return int(count.read_text())


def ldif_phases(path: Path, work: Path) -> str:
    """Where an LDIF ingest's time goes, in this process: (wall, CPU) seconds of the
    bare line loop, the chunked parse on one and on two threads, the spool, and the
    Parquet write; then the digest and the interpreter's start-up with ingest's imports."""
    import pyarrow  # noqa: F401  (imported before timing, as the CLI has it)

    from recondiff.ingest.ldif_stream import ldif_tables
    from recondiff.ingest.snapshot import file_sha256
    from recondiff.ingest.spool import Spool

    def timed(run: Any) -> tuple[float, float, Any]:
        wall, cpu = time.perf_counter(), time.process_time()
        result = run()
        return time.perf_counter() - wall, time.process_time() - cpu, result

    rows = [("bare loop over the lines", *timed(lambda: line_floor(path))[:2])]
    for threads in (1, 2):
        wall, cpu, _ = timed(
            lambda n=threads: sum(t.num_rows for t in ldif_tables(path, threads=n))
        )
        rows.append((f"parse, {threads} thread(s)", wall, cpu))
    out = work / "phases.parquet"
    spool = Spool.beside(out, {"memberof", "objectclass"}, names=("dn",))
    try:
        wall, cpu, _ = timed(lambda: [spool.add(t) for t in ldif_tables(path)])
        rows.append(("parse and spool", wall, cpu))
        wall, cpu, _ = timed(lambda: spool.write(out, lambda rows: {}))
        rows.append(("spool to Parquet", wall, cpu))
    finally:
        spool.remove()
        out.unlink(missing_ok=True)
    rows.append(("SHA-256 of the file", *timed(lambda: file_sha256(path))[:2]))
    imports = "import recondiff.cli.main, recondiff.ingest.exports"
    started = time.perf_counter()
    usage = run_process([sys.executable, "-c", imports], work, log_name="imports")
    rows.append(
        ("start-up and imports (a process)", time.perf_counter() - started, usage.user + usage.sys)
    )
    lines = ["| phase | wall, s | CPU, s |", "| --- | ---: | ---: |"]
    lines += [f"| {name} | {wall:.2f} | {cpu:.2f} |" for name, wall, cpu in rows]
    return "\n".join(lines)


def ingest_once(source: Path, records: int, work: Path) -> dict[str, float | str]:
    out = work / f"{source.stem}.out.parquet"
    argv = [sys.executable, "-m", "recondiff", "ingest", "-q", str(source), "-o", str(out)]
    argv += ["-m", "memberOf", "-m", "objectClass"]
    usage = run_process(argv, work, log_name=f"ingest-{source.name}")
    if usage.outcome == "ok":
        rows = (
            duckdb.connect()
            .execute("SELECT count(*) FROM read_parquet($p)", {"p": str(out)})
            .fetchall()[0][0]
        )
        outcome = "ok" if rows == records else f"wrong: {rows} rows, not {records}"
    else:
        outcome = usage.outcome
    out.unlink(missing_ok=True)
    return {
        "wall": usage.wall,
        "cpu": usage.user + usage.sys,
        "rss": usage.rss_mb,
        "outcome": outcome,
    }


def sizes(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=sizes, default=[1_000_000], help="CSV sizes (rows)")
    parser.add_argument("--ldif", type=sizes, default=[1_000_000], help="LDIF sizes (entries)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/ingest-bench"))
    parser.add_argument(
        "--scenario",
        type=Path,
        default=None,
        help="a benchmarks/run.py --work directory whose N/endpoint.parquet to reuse",
    )
    parser.add_argument("--floor", action="store_true", help="time a bare loop over LDIF lines")
    parser.add_argument(
        "--phases", action="store_true", help="time the LDIF ingest's phases in this process"
    )
    parser.add_argument("--out", type=Path, default=None, help="append the Markdown table here")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    files = [("csv", n, make_csv(n, args.work, args.scenario)) for n in args.csv]
    files += [("ldif", n, make_ldif(n, args.work, args.scenario)) for n in args.ldif]
    files = [(k, records_of(f, args.work, args.scenario, n), f) for k, n, f in files]
    results: dict[Path, list[dict[str, float | str]]] = {f: [] for _, _, f in files}
    for _ in range(args.repeat):
        for _, n, path in files:
            results[path].append(ingest_once(path, n, args.work))
            print(path.name, results[path][-1], file=sys.stderr)
    table = report(files, results, args)
    if args.phases:
        for kind, _, path in files:
            if kind == "ldif":
                table += f"\n\nPhases of {path.name} (one process, after the rounds):\n\n"
                table += ldif_phases(path, args.work)
    print(table)
    if args.out:
        with args.out.open("a", encoding="utf-8") as out:
            out.write(table + "\n")
    return 0


def report(
    files: list[tuple[str, int, Path]],
    results: dict[Path, list[dict[str, float | str]]],
    args: argparse.Namespace,
) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Machine: {machine()}; {now}; load average {Path('/proc/loadavg').read_text().split()[0]}",
        f"Command: `python benchmarks/ingest.py {' '.join(sys.argv[1:])}`",
        "",
        "| export | records | MB | wall, s, each round | median wall, s | median CPU, s "
        "| records/s (median wall) | peak RSS, MB (max) | outcome |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for kind, n, path in files:
        runs = results[path]
        walls = [float(r["wall"]) for r in runs]
        wall = statistics.median(walls)
        cpu = statistics.median(float(r["cpu"]) for r in runs)
        rss = max(float(r["rss"]) for r in runs)
        outcomes = sorted({str(r["outcome"]) for r in runs})
        lines.append(
            f"| {kind} | {n:,} | {path.stat().st_size / 1e6:,.0f} "
            f"| {', '.join(f'{w:.2f}' for w in walls)} | {wall:.2f} | {cpu:.2f} "
            f"| {n / wall:,.0f} | {rss:,.0f} | {', '.join(outcomes)} |"
        )
    if args.floor:
        for kind, n, path in files:
            if kind == "ldif":
                floors = [line_floor(path) for _ in range(3)]
                lines.append(
                    f"\nBare loop over {path.name}'s lines (bytes), best of 3: "
                    f"{min(floors):.2f} s ({n / min(floors):,.0f} entries/s)"
                )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
