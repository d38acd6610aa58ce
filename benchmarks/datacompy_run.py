"""datacompy (polars backend) on the benchmark snapshots: the library a data
engineer would reach for. Joins on the account key, case- and
space-insensitive, and renders its report.

    python benchmarks/datacompy_run.py ENDPOINT.parquet REPOSITORY.parquet
"""

from __future__ import annotations

import sys

import polars as pl
from datacompy import PolarsCompare
from generate import ATTRIBUTES  # type: ignore[import-not-found]


def main() -> None:
    endpoint_path, repository_path = sys.argv[1:3]
    rename = {e: r for e, r, _ in ATTRIBUTES} | {"sAMAccountName": "ad_account"}
    endpoint = pl.read_parquet(endpoint_path, columns=list(rename)).rename(rename)
    repository = pl.read_parquet(repository_path, columns=list(rename.values()))
    # datacompy compares scalars: multi-valued groups become one sorted string.
    endpoint = endpoint.with_columns(pl.col("groups").list.sort().list.join(";"))
    repository = repository.with_columns(pl.col("groups").list.sort().list.join(";"))
    compare = PolarsCompare(
        endpoint, repository, join_columns="ad_account", ignore_spaces=True, ignore_case=True
    )
    report = compare.report()
    print(f"report: {len(report)} characters")
    print(f"only in endpoint: {compare.df1_unq_rows.height}")
    print(f"only in repository: {compare.df2_unq_rows.height}")
    print(f"rows with a mismatch: {compare.intersect_rows.height - compare.count_matching_rows()}")


if __name__ == "__main__":
    main()
