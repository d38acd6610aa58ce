"""polars or pyarrow.compute for splitting multi-valued CSV cells at ingest
(issue 15: polars stays only if it does real work).

    python benchmarks/ingest_polars.py --rows 1000000 --work /var/tmp/ingest-polars

Writes a CSV export of ``--rows`` accounts (cached in --work) whose memberOf
holds 0 to 8 DNs separated by ";" (some pieces blank), checks that both
splits give the same lists, then times them: the split alone, in this
process, and ``recondiff ingest -m memberOf`` end to end, each variant a
whole process (wall time, user/system CPU and peak RSS from wait4), rounds
interleaved (ABBA) because this machine's speed drifts. "arrow" is the product's
split (recondiff.ingest.csv_table._split_cells); "polars" is the one it
replaced, kept here to measure against.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

HERE = Path(__file__).resolve().parent

GENERATE = """
COPY (
    SELECT
        'u' || lpad(i::VARCHAR, 7, '0') AS sAMAccountName,
        'User ' || i AS displayName,
        'u' || i || '@example.com' AS mail,
        'Title ' || (hash(i, 1) % 40) AS title,
        'Dept ' || (hash(i, 2) % 12) AS department,
        array_to_string(
            list_transform(
                range((hash(i, 3) % 9)::BIGINT),
                lambda g: CASE WHEN hash(i, g) % 50 = 0 THEN ' '
                     ELSE 'CN=Group ' || (hash(i, g, 4) % 500) || ',OU=Groups,DC=example,DC=com'
                     END
            ),
            ';'
        ) AS memberOf
    FROM range($rows) t(i)
) TO '{path}' (FORMAT csv, HEADER)
"""


def split_polars(column: pa.ChunkedArray, separator: str) -> pa.ChunkedArray:
    """The split recondiff used until issue 15 (polars), as it was."""
    import polars as pl
    import pyarrow as pa

    series = pl.from_arrow(column)
    assert isinstance(series, pl.Series)
    piece = pl.element()
    split = series.str.split(separator).list.eval(piece.filter(piece.str.strip_chars() != ""))
    arrow = split.to_arrow().cast(pa.large_list(pa.large_string()))
    chunked = arrow if isinstance(arrow, pa.ChunkedArray) else pa.chunked_array([arrow])
    return chunked.cast(pa.list_(pa.string()))


def split_arrow(column: pa.ChunkedArray, separator: str) -> pa.ChunkedArray:
    from recondiff.ingest.csv_table import _split_cells

    return _split_cells(column, separator)


SPLITS = {"polars": split_polars, "arrow": split_arrow}

EDGES = [
    "", ";", " ; ", "a;;b", "\u00a0;\u3000;x", "\x1f;\x1c", "\u200b", "é; é ;", None, "a;b;",
]


def export(rows: int, work: Path) -> Path:
    path = work / f"users-{rows}.csv"
    if not path.exists():
        import duckdb

        work.mkdir(parents=True, exist_ok=True)
        temp = path.with_suffix(".tmp")
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        con.execute(GENERATE.replace("{path}", str(temp)).replace("$rows", str(rows)))
        temp.rename(path)
    return path


def split_alone(source: Path, rounds: int) -> None:
    """Check that both splits agree (on the export and on edge cases), then print
    each one's median seconds on the export's memberOf column."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    column = pa_csv.read_csv(
        source, convert_options=pa_csv.ConvertOptions(column_types={"memberOf": pa.string()})
    ).column("memberOf")
    edges = pa.chunked_array([pa.array(EDGES, pa.string()), pa.array(EDGES[3:], pa.string())])
    for sample in (column, edges):
        if split_polars(sample, ";").to_pylist() != split_arrow(sample, ";").to_pylist():
            sys.exit("the two splits differ")
    for name, function in SPLITS.items():
        seconds = []
        for _ in range(rounds):
            start = time.perf_counter()
            function(column, ";")
            seconds.append(time.perf_counter() - start)
        print(f"{name} {statistics.median(seconds):.3f}")


def child(variant: str, source: str, out: str) -> None:
    """One `recondiff ingest`, with the chosen split."""
    from recondiff.cli.main import main
    from recondiff.ingest import csv_table

    if variant == "polars":
        csv_table._split_cells = split_polars  # type: ignore[assignment]
    sys.argv = ["recondiff", "ingest", "-q", source, "-o", out, "-m", "memberOf"]
    main()


def run(variant: str, source: Path, out: Path) -> tuple[float, float, float, float]:
    """(wall s, user s, system s, peak RSS MB) of one child process."""
    argv = [sys.executable, __file__, "--child", variant, str(source), str(out)]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{variant}: recondiff ingest failed")
    return wall, usage.ru_utime, usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/ingest-polars"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=3, metavar=("VARIANT", "SOURCE", "OUT"))
    parser.add_argument("--split-alone", type=Path, metavar="SOURCE")
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.split_alone:
        split_alone(args.split_alone, args.rounds)
        return

    # This process stays small (children inherit its peak RSS through fork):
    # the export, the check and the split alone each run in a child.
    subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(HERE)!r}); "
         f"import ingest_polars as m; m.export({args.rows}, m.Path({str(args.work)!r}))"],
        check=True,
    )
    source = args.work / f"users-{args.rows}.csv"
    alone = subprocess.run(
        [sys.executable, __file__, "--split-alone", str(source), "--rounds", str(args.rounds)],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    split = {name: float(seconds) for name, seconds in zip(alone[::2], alone[1::2], strict=True)}
    size = source.stat().st_size / 1e6
    print(f"{args.rows:,} rows, {size:.0f} MB, load {os.getloadavg()[0]:.1f}")

    whole: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in SPLITS}
    for round_ in range(args.rounds):
        for name in sorted(SPLITS, reverse=round_ % 2 == 1):  # ABBA: drift hits both
            whole[name].append(run(name, source, args.work / f"{name}.parquet"))

    print("| split | split alone, s | ingest wall, s (each round) | user + sys, s | peak RSS, MB |")
    print("| --- | --- | --- | --- | --- |")
    for name in SPLITS:
        walls = [w for w, *_ in whole[name]]
        user = statistics.median(u for _, u, _, _ in whole[name])
        system = statistics.median(s for _, _, s, _ in whole[name])
        rss = statistics.median(r for *_, r in whole[name])
        print(
            f"| {name} | {split[name]:.2f} | {statistics.median(walls):.2f} "
            f"({', '.join(f'{w:.2f}' for w in walls)}) | {user:.2f} + {system:.2f} | {rss:.0f} |"
        )
    ratios = [a[0] / p[0] for a, p in zip(whole["arrow"], whole["polars"], strict=True)]
    print(f"arrow / polars wall, per round: {', '.join(f'{r:.3f}' for r in ratios)}; "
          f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
