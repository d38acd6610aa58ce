"""Layout promises: the SQL and templates ship inside the wheel, every query
file is used, no import cycle, and the core never imports click."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLE

# Query files whose name the core builds at run time instead of spelling it out.
BUILT_NAMES = {
    "results/drift_csv",  # compare: f"results/drift_{fmt}" for each output format
    "results/drift_parquet",
}


def test_every_query_file_is_used_by_the_core() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "recondiff").rglob("*.py"))
    names = {
        sql.relative_to(ROOT / "queries").with_suffix("").as_posix()
        for sql in (ROOT / "queries").rglob("*.sql")
    }
    assert names >= BUILT_NAMES, BUILT_NAMES - names
    for name in sorted(names - BUILT_NAMES):
        assert f'"{name}"' in source or f"'{name}'" in source, name


def test_the_package_has_no_import_cycle() -> None:
    """No module of recondiff imports, directly or not, a module that imports it
    (type-only imports count). pyproject.toml's import-linter contracts check the
    layers; this checks inside a layer too."""
    import grimp

    graph = grimp.build_graph("recondiff", cache_dir=None)
    cycles = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.chain_exists(importer=imported, imported=module):
                cycles.add(tuple(sorted((module, imported))))
    assert not cycles, sorted(cycles)


def test_core_does_not_import_click() -> None:
    for path in (ROOT / "recondiff").rglob("*.py"):
        if "cli" in path.relative_to(ROOT / "recondiff").parts:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n == "click" or n.startswith("click.") for n in names), path


@pytest.mark.slow
def test_wheel_ships_queries_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
        check=True,
    )
    (wheel,) = (tmp_path / "dist").glob("recondiff-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "recondiff/queries/macros/text.sql" in names
    assert "recondiff/queries/classify/situations.sql" in names
    assert any(n.startswith("recondiff/reports/") for n in names)
    assert "recondiff/plan/plan.schema.json" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # Run from elsewhere, importing only the unpacked wheel (dependencies from
    # this environment): queries must come from inside the package.
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = (
        "import recondiff.io.sqlfiles as q, recondiff.compare as c, sys;"
        f"assert str(q.query_dir()).startswith({str(site)!r}), q.query_dir();"
        f"r = c.compare({str(SAMPLE / 'recondiff.toml')!r}, {str(tmp_path / 'out')!r});"
        "import recondiff.plan.file as p;"
        f"p.load_plan({str(tmp_path / 'out' / 'plan.jsonl')!r});"  # the schema ships too
        "print(r.summary['situations']['linked'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 0


@pytest.mark.slow
def test_compare_on_parquet_snapshots_never_loads_pyarrow(tmp_path: Path) -> None:
    """pyarrow is about 80 MB of resident memory (recondiff/ingest/snapshot.py): a
    compare whose inputs are already snapshots, plan, report and history
    included, runs without it. Twice, so that the second run reads the first
    one's history. Written down: jdoe drifts (title), ghost is unmatched."""
    import duckdb

    con = duckdb.connect()
    con.execute(
        "COPY (SELECT * FROM (VALUES ('jdoe', 'CN=jdoe,OU=x', 'Eng'), ('ghost', 'CN=ghost,OU=x', 'Ops'))"
        " t(sAMAccountName, distinguishedName, title)) TO $p (FORMAT parquet)",
        {"p": str(tmp_path / "ad.parquet")},
    )
    con.execute(
        "COPY (SELECT * FROM (VALUES ('1', 'jdoe', 'Sales')) t(employee_id, ad_account, title))"
        " TO $p (FORMAT parquet)",
        {"p": str(tmp_path / "ids.parquet")},
    )
    (tmp_path / "recondiff.toml").write_text(
        '[endpoint]\nname = "ad"\nsnapshot = "ad.parquet"\nkey = "sAMAccountName"\n\n'
        '[repository]\nsnapshot = "ids.parquet"\nkey = "employee_id"\nlink = "ad_account"\n\n'
        '[[attribute]]\nendpoint = "title"\nrepository = "title"\n'
    )
    script = (
        "import sys\n"
        "from recondiff.cli.main import main\n"
        "sys.argv = ['recondiff', 'compare', '-q', '-c', sys.argv[1], '-o', sys.argv[2]]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
        "print(code, sorted(m for m in sys.modules if m.split('.')[0] in ('pyarrow', 'polars')))\n"
    )
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "recondiff.toml"), str(tmp_path / "out")],
            capture_output=True, text=True, check=True,
        )
        assert done.stdout.strip().splitlines()[-1] == "1 []", done.stderr
    assert (tmp_path / "out" / "report.html").exists()
    summary = (tmp_path / "out" / "summary.json").read_text()
    assert '"unmatched": 1' in summary and '"linked": 1' in summary
