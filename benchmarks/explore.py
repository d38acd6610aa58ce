"""Issue 17 point 7: ``recondiff explore`` against the two-step baseline.

    .venv/bin/python benchmarks/explore.py --sizes 20000,100000 --work /var/tmp/rbexplore

For each size, a local slapd (tests/slapd.py's configuration) holds that many
generated inetOrgPerson entries (loaded offline with ``slapadd``, cached in
``--work``). Then, as separate child processes (wall time and peak RSS from
``os.wait4``), ``--repeat`` interleaved rounds, medians reported:

  explore    recondiff explore --url --base --filter --page-size 1000 -o F.parquet
             (every user attribute, as ldapsearch asks for)
  ldapsearch ldapsearch -LLL -E pr=1000/noprompt ... > F.ldif (the export)
  ingest     recondiff ingest F.ldif -o F.parquet
  two-step   ldapsearch + ingest, the baseline explore replaces

Both snapshots must have every entry, the same columns and the same values
(compared through DuckDB), or the run fails. The bind password goes to the
children through an environment variable and ``-y FILE``, never argv.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.slapd import Slapd  # noqa: E402  (the repository's own fixture)

BASE = "dc=example,dc=org"
PEOPLE = f"ou=people,{BASE}"
FILTER = "(objectClass=inetOrgPerson)"
PAGE = 1000
PW_VAR = "RD_BENCH_PW"


def entries(n: int) -> str:
    """n deterministic people with a dozen attributes, two of them multi-valued."""
    out = [
        f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n",
    ]
    for i in range(n):
        uid = f"u{i:07d}"
        out.append(
            f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\n"
            f"cn: Person {i}\nsn: Surname{i % 997}\ngivenName: Given{i % 113}\n"
            f"mail: {uid}@example.org\nmail: {uid}.alias@example.org\n"
            f"title: Title {i % 37}\nemployeeNumber: {100000 + i}\n"
            f"departmentNumber: D{i % 50}\ntelephoneNumber: +1 555 {i % 10000:04d}\n"
            f"ou: Team {i % 200}\nou: Site {i % 7}\n"
            f"description: generated entry {i} for the explore benchmark\n"
        )
    return "\n".join(out) + "\n"


def server(work: Path, n: int) -> Slapd:
    """A slapd holding n people, loaded with slapadd once and kept in work/n."""
    directory = work / f"slapd-{n}"
    loaded = directory / "loaded"
    ldap = Slapd(directory, start=False)
    conf = ldap.conf.read_text(encoding="utf-8")  # mdb's default map (10 MB) is too small
    ldap.conf.write_text(conf.replace("dbnosync\n", "dbnosync\nmaxsize 4294967296\n"), "utf-8")
    if not loaded.exists():
        shutil.rmtree(directory / "db", ignore_errors=True)
        (directory / "db").mkdir(parents=True)
        ldif = directory / "data.ldif"
        ldif.write_text(entries(n), encoding="utf-8")
        slapadd = shutil.which("slapadd") or "/usr/sbin/slapadd"
        t0 = time.monotonic()
        subprocess.run([slapadd, "-q", "-f", str(ldap.conf), "-l", str(ldif)], check=True,
                       capture_output=True)  # fmt: skip
        print(f"loaded {n:,} entries in {time.monotonic() - t0:.1f} s", file=sys.stderr)
        ldif.unlink()
        loaded.touch()
    ldap.start()
    return ldap


def measure(command: list[str], stdout: Path | None = None, env: dict[str, str] | None = None
            ) -> tuple[float, float]:  # fmt: skip
    """Wall seconds and peak RSS (MB) of one child process."""
    sink = stdout.open("wb") if stdout else open(os.devnull, "wb")  # noqa: SIM115
    t0 = time.monotonic()
    with sink:
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.PIPE,
                                env={**os.environ, **(env or {})})  # fmt: skip
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[:4]} failed: {err.decode(errors='replace')[-800:]}")
    return wall, usage.ru_maxrss / 1024


def same(a: Path, b: Path, n: int) -> None:
    """Both snapshots hold n rows with the same columns and values."""
    import duckdb

    con = duckdb.connect()
    describe = "DESCRIBE SELECT * FROM read_parquet($p)"
    cols_a = [r[0] for r in con.execute(describe, {"p": str(a)}).fetchall()]
    cols_b = [r[0] for r in con.execute(describe, {"p": str(b)}).fetchall()]
    if sorted(c.lower() for c in cols_a) != sorted(c.lower() for c in cols_b):
        raise SystemExit(f"columns differ: {cols_a} vs {cols_b}")
    cols = ", ".join(f'"{c}"' for c in sorted(cols_a))
    diff = con.execute(
        f"SELECT count(*) FROM ((SELECT {cols} FROM read_parquet($a) EXCEPT ALL "
        f"SELECT {cols} FROM read_parquet($b)) UNION ALL (SELECT {cols} FROM read_parquet($b) "
        f"EXCEPT ALL SELECT {cols} FROM read_parquet($a)))",
        {"a": str(a), "b": str(b)},
    ).fetchone()
    rows = con.execute("SELECT count(*) FROM read_parquet($a)", {"a": str(a)}).fetchone()
    if not rows or rows[0] != n or not diff or diff[0] != 0:
        raise SystemExit(f"snapshots differ: {rows} rows, {diff} differing")


def run_size(work: Path, n: int, repeat: int) -> dict[str, list[tuple[float, float]]]:
    python = sys.executable
    ldapsearch = shutil.which("ldapsearch") or "ldapsearch"
    ldap = server(work, n)
    results: dict[str, list[tuple[float, float]]] = {"explore": [], "ldapsearch": [], "ingest": []}
    try:
        out = work / f"out-{n}"
        out.mkdir(exist_ok=True)
        env = {PW_VAR: ldap.password}
        for _ in range(repeat):
            snap = out / "explore.parquet"
            results["explore"].append(measure(
                [python, "-m", "recondiff", "explore", "-q", "--url", ldap.url, "--base", PEOPLE,
                 "--filter", FILTER, "--bind-dn", ldap.admin_dn, "--password-env", PW_VAR,
                 "--page-size", str(PAGE), "--state", str(out), "-o", str(snap)],
                env=env))  # fmt: skip
            ldif = out / "export.ldif"
            results["ldapsearch"].append(measure(
                [ldapsearch, "-LLL", "-x", "-o", "ldif-wrap=no", "-E", f"pr={PAGE}/noprompt",
                 "-H", ldap.url, "-D", ldap.admin_dn, "-y", str(ldap.password_file),
                 "-b", PEOPLE, FILTER], stdout=ldif))  # fmt: skip
            ingested = out / "ingest.parquet"
            results["ingest"].append(measure(
                [python, "-m", "recondiff", "ingest", "-q", str(ldif), "-o", str(ingested)]))
        same(snap, ingested, n)
    finally:
        ldap.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="20000,100000")
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/rbexplore"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"{platform.node()} · {os.cpu_count()} cores · {platform.python_version()} · "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · page size {PAGE}")  # fmt: skip
    print("| entries | explore | ldapsearch | ingest | two-step | explore / two-step |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in (int(s) for s in args.sizes.split(",")):
        r = run_size(args.work, n, args.repeat)
        med = {k: (statistics.median(w for w, _ in v), max(m for _, m in v)) for k, v in r.items()}
        two = [a[0] + b[0] for a, b in zip(r["ldapsearch"], r["ingest"], strict=True)]
        two_med = statistics.median(two)
        ex = med["explore"]
        print(
            f"| {n:,} | {ex[0]:.2f} s, {n / ex[0]:,.0f}/s, {ex[1]:.0f} MB | "
            f"{med['ldapsearch'][0]:.2f} s, {med['ldapsearch'][1]:.0f} MB | "
            f"{med['ingest'][0]:.2f} s, {med['ingest'][1]:.0f} MB | "
            f"{two_med:.2f} s, {n / two_med:,.0f}/s | {ex[0] / two_med:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
