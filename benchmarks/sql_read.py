"""read_postgresql against its two-step alternative, on a throwaway cluster
(tests/postgres.py; Debian's postgresql): a table of N generated people (text,
integer, boolean, timestamptz with microseconds, text[]) read by
``read_postgresql`` into a snapshot, and by ``psql \\copy ... CSV`` plus
``recondiff ingest``. Each read runs in a child process: wall time and peak RSS.

    .venv/bin/python benchmarks/sql_read.py [N ...]    # default 100000 1000000 4000000
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.postgres import Postgres  # noqa: E402

TABLE = """
CREATE TABLE people AS SELECT 'user' || n AS uid, 'First' || n AS first_name,
  'Last' || n AS last_name, 'user' || n || '@example.org' AS email, n AS number,
  (n % 2 = 0) AS active, now() - n * interval '1 minute' AS changed,
  ARRAY['staff', 'group' || (n % 100)] AS groups FROM generate_series(1, {n}) n;
GRANT SELECT ON people TO recon;
"""

READ = r"""
import json, resource, sys, time
from pathlib import Path
t = time.perf_counter()
if sys.argv[1] == "postgresql":
    from recondiff.ingest.sql_read import read_postgresql
    info = read_postgresql(sys.argv[2], "SELECT * FROM people", Path(sys.argv[4]),
                           password=sys.stdin.read())
else:
    from recondiff.ingest.exports import ReadOptions, ingest
    options = ReadOptions(multi_valued=("groups",))
    info = ingest(Path(sys.argv[3]), Path(sys.argv[4]), options=options)
print(json.dumps({"rows": info.rows, "seconds": round(time.perf_counter() - t, 2),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""


def child(kind: str, server: Postgres, csv: Path, out: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", READ, kind, server.url, str(csv), str(out)],
        input=server.password, capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main(sizes: list[int]) -> None:
    with Postgres() as server, tempfile.TemporaryDirectory() as work:
        for n in sizes:
            server.sql(f"DROP TABLE IF EXISTS people; {TABLE.format(n=n)}")
            csv, out = Path(work) / "people.csv", Path(work) / "people.parquet"
            direct = child("postgresql", server, csv, out)
            start = time.perf_counter()
            server.copy_csv("SELECT uid, first_name, last_name, email, number, active, changed, "
                            "array_to_string(groups, ';') AS groups FROM people", csv)  # fmt: skip
            export = round(time.perf_counter() - start, 2)
            ingested = child("csv", server, csv, out)
            print(json.dumps({"rows": n, "read_postgresql": direct,
                              "psql_copy_seconds": export, "ingest": ingested}))  # fmt: skip


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100_000, 1_000_000, 4_000_000])
