"""The write floor: the read limit (read_limit.py), then the situations table
written the way recondiff writes it, as Parquet (snappy, one row per endpoint
record in file order) and then as CSV read back from that file, with no
normalisation, no join and no sort. Since issue 19 situations.csv holds the
findings only (every row but linked in sync): the floor's CSV holds one row in
20, about the share of findings in benchmarks/generate.py's data (55,000 of
1,010,000 records). It is not the issue's floor; it measures
what reading the inputs and writing the largest output cost on their own, so
that recondiff's time can also be read against that (steering's option (b),
issue 3).

    python benchmarks/write_floor.py ENDPOINT.parquet REPOSITORY.parquet OUTDIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
from read_limit import QUERY  # type: ignore[import-not-found]

# The columns of situations.parquet (docs/outputs.md), filled from the endpoint
# record itself: values of the same kind and length as a real run's.
SITUATIONS = """
COPY (
    SELECT 'linked' AS situation, 'in_sync' AS sync,
           "sAMAccountName" AS endpoint_key, "distinguishedName" AS endpoint_dn,
           'E' || "sAMAccountName"[2:] AS identity_key, 'link' AS rule,
           CAST(NULL AS VARCHAR[]) AS candidates, CAST(0 AS BIGINT) AS drift_attributes,
           CAST(file_row_number AS BIGINT) + 1 AS endpoint_record,
           CAST(file_row_number AS BIGINT) + 1 AS identity_record
    FROM read_parquet($endpoint, file_row_number = true)
) TO $path (FORMAT parquet, COMPRESSION snappy)
"""
CSV = """
COPY (
    SELECT situation, sync, endpoint_key, endpoint_dn, identity_key, rule,
           array_to_string(candidates, ';') AS candidates, drift_attributes,
           endpoint_record, identity_record
    FROM read_parquet($parquet, file_row_number = true)
    WHERE file_row_number % 20 = 0
) TO $path (FORMAT csv, HEADER true)
"""


def main() -> None:
    endpoint, repository, outdir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    outdir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    for path in (endpoint, repository):
        con.execute(QUERY, {"path": path}).fetchall()
    parquet = outdir / "situations.parquet"
    con.execute(SITUATIONS, {"endpoint": endpoint, "path": str(parquet)})
    con.execute(CSV, {"parquet": str(parquet), "path": str(outdir / "situations.csv")})
    print(f"{parquet}: {parquet.stat().st_size} bytes")


if __name__ == "__main__":
    main()
