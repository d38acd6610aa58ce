"""Generate the benchmark scenario: both snapshots as Parquet, the config that
reconciles them, and the exact truth recondiff must find.

    python benchmarks/generate.py 1000000 /var/tmp/recondiff-bench/1m

The scenario and its injected differences are described in generate.sql.

    python benchmarks/generate.py 1000000 /var/tmp/rbp/1000000 --policies

writes the identity-policy scenario instead (issue 18 point 6,
benchmarks/policy_scenario.py): the same identities with 50 policies, the
repository's applied-policies column and the columns they set, an endpoint
that mirrors the last sync, `recondiff.toml` without the policies and
`recondiff-policies.toml` with them, `reference.parquet` (the reference
evaluation) and a truth.json for both runs. Without --policies the outputs
are those of before, byte for byte.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import duckdb

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

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


def write_config(
    directory: Path,
    memory_limit: str | None = None,
    policies: bool | None = None,
    spark: str | None = None,
) -> Path:
    """The config; `policies` None: the base scenario's, False: the policy
    scenario's without its policies, True: with them; `spark`, a Spark master
    URL: the run on Spark (`[engine] kind = "spark"`, issue 21)."""
    from policy_scenario import POLICY_ATTRIBUTES, config_text

    extra = POLICY_ATTRIBUTES if policies is not None else []
    attributes = "".join(
        f'\n[[attribute]]\nendpoint = "{e}"\nrepository = "{r}"\ncompare = "{c}"\n'
        for e, r, c in [*ATTRIBUTES, *extra]
    )
    engine = f'memory_limit = "{memory_limit}"\n' if memory_limit else ""
    stem = f"recondiff-{memory_limit}" if memory_limit else "recondiff"
    if spark:
        engine += f'kind = "spark"\n\n[engine.spark]\nmaster = "{spark}"\n'
        stem += "-spark"
    path = directory / (f"{stem}-policies.toml" if policies else f"{stem}.toml")
    text = CONFIG.format(attributes=attributes, engine=engine)
    if policies is not None:
        text = config_text(text, policies)
    path.write_text(text, encoding="utf-8")
    return path


def generate(n: int, directory: Path, policies: bool = False) -> dict[str, Any]:
    """Write endpoint.parquet, repository.parquet, recondiff.toml and truth.json
    (with `policies`, the policy scenario: see the module's docstring)."""
    directory.mkdir(parents=True, exist_ok=True)
    truth_file = directory / "truth.json"
    if truth_file.exists():
        cached = json.loads(truth_file.read_text())
        if cached.get("n") == n and bool(cached.get("policies")) == policies:
            return dict(cached)
    if policies:
        return generate_policies(n, directory)
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


def generate_policies(n: int, directory: Path) -> dict[str, Any]:
    """The policy scenario: generate.sql's `people` table, then
    generate_policies.sql and the reference evaluation (policy_scenario.py)."""
    from policy_scenario import generate as generate_scenario

    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    # the reference evaluation's wide pass tables took 10 GB at 1M by default;
    # the machine is shared: spill instead (/var/tmp, beside the data)
    con.execute("SET memory_limit = '4GB'")
    con.execute("SET temp_directory = ?", [str(directory / ".tmp")])
    people = (HERE / "generate.sql").read_text().split(";\n")[0]
    con.execute(people, {"n": n})
    truth: dict[str, Any] = {"n": n, "policies": True}
    truth |= generate_scenario(con, n, directory, (HERE / "generate_policies.sql").read_text())
    cursor = con.execute((HERE / "truth.sql").read_text(), {"n": n})
    names = [d[0] for d in cursor.description]
    base = {k: int(v) for k, v in zip(names, cursor.fetchall()[0], strict=True)}
    truth |= {k: base[k] for k in ("linked", "missing", "deleted_in_repository", "unmatched")}
    write_config(directory, policies=False)
    write_config(directory, policies=True)
    (directory / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    return truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="number of identities")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--policies", action="store_true",
                        help="the identity-policy scenario (benchmarks/policy_scenario.py)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    truth = generate(args.n, args.directory, args.policies)
    print(json.dumps(truth), f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
