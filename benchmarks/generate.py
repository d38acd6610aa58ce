"""Generate the benchmark scenario: both snapshots as Parquet, the config that
reconciles them, and the exact truth recondiff must find.

    python benchmarks/generate.py 1000000 /var/tmp/recondiff-bench/1m

The scenario and its injected differences are described in generate.sql.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent

CONFIG = """\
# Benchmark reconciliation (written by benchmarks/generate.py).
[endpoint]
name = "bench-ad"
snapshot = "endpoint.parquet"
key = "sAMAccountName"

[repository]
snapshot = "repository.parquet"
key = "employee_id"
link = "ad_account"
status = "status"

[[correlation]]
name = "by-mail"
endpoint = "mail"
repository = "email"
compare = "casefold_trim"
{attributes}
[engine]
{engine}
"""

# (endpoint, repository, compare): 12 single-valued attributes and the groups.
ATTRIBUTES = [
    ("givenName", "first_name", "trim"),
    ("sn", "last_name", "exact"),
    ("displayName", "display_name", "casefold_trim"),
    ("mail", "email", "casefold"),
    ("title", "title", "casefold_trim"),
    ("department", "department", "casefold"),
    ("l", "location", "casefold"),
    ("telephoneNumber", "phone", "trim"),
    ("departmentNumber", "cost_center", "casefold"),
    ("employeeType", "employee_type", "casefold"),
    ("manager", "manager_dn", "dn"),
    ("accountExpires", "end_date", "date"),
    ("memberOf", "groups", "dn_set"),
]


def write_config(directory: Path, memory_limit: str | None = None) -> Path:
    attributes = "".join(
        f'\n[[attribute]]\nendpoint = "{e}"\nrepository = "{r}"\ncompare = "{c}"\n'
        for e, r, c in ATTRIBUTES
    )
    engine = f'memory_limit = "{memory_limit}"\n' if memory_limit else ""
    path = directory / (f"recondiff-{memory_limit}.toml" if memory_limit else "recondiff.toml")
    path.write_text(CONFIG.format(attributes=attributes, engine=engine), encoding="utf-8")
    return path


def generate(n: int, directory: Path) -> dict[str, int]:
    """Write endpoint.parquet, repository.parquet, recondiff.toml and truth.json."""
    directory.mkdir(parents=True, exist_ok=True)
    truth_file = directory / "truth.json"
    if truth_file.exists() and json.loads(truth_file.read_text()).get("n") == n:
        return dict(json.loads(truth_file.read_text()))
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    params = {
        "n": n,
        "repository_path": str(directory / "repository.parquet"),
        "endpoint_path": str(directory / "endpoint.parquet"),
    }
    statements = [s for s in (HERE / "generate.sql").read_text().split(";\n") if s.strip()]
    for statement in statements:
        used = {k: v for k, v in params.items() if f"${k}" in statement}
        con.execute(statement, used)
    cursor = con.execute((HERE / "truth.sql").read_text(), {"n": n})
    names = [d[0] for d in cursor.description]
    truth = {"n": n} | {k: int(v) for k, v in zip(names, cursor.fetchall()[0], strict=True)}
    write_config(directory)
    truth_file.write_text(json.dumps(truth, indent=2) + "\n")
    return truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="number of identities")
    parser.add_argument("directory", type=Path)
    args = parser.parse_args()
    t0 = time.perf_counter()
    truth = generate(args.n, args.directory)
    print(json.dumps(truth), f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
