"""The read limit: DuckDB reads every column of both snapshots once and
hashes it, with no normalisation and no join. No reconciliation can be faster
than reading its inputs; recondiff's time is quoted as a multiple of this.

    python benchmarks/read_limit.py ENDPOINT.parquet REPOSITORY.parquet
"""

from __future__ import annotations

import sys

import duckdb

QUERY = "SELECT count(*), sum(hash(COLUMNS(*))) FROM read_parquet($path)"


def main() -> None:
    con = duckdb.connect()
    for path in sys.argv[1:]:
        rows = con.execute(QUERY, {"path": path}).fetchall()[0][0]
        print(f"{path}: {rows} rows")


if __name__ == "__main__":
    main()
