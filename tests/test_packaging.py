"""Layout promises: the SQL and templates ship inside the wheel, every query
file is used, and the core never imports click."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT, SAMPLE


def test_every_query_file_is_used_by_the_core() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "recondiff").glob("*.py"))
    for sql in (ROOT / "queries").glob("*.sql"):
        name = sql.stem
        assert f'"{name}"' in source or f"'{name}'" in source or "copy_" in name, name


def test_core_does_not_import_click() -> None:
    for path in (ROOT / "recondiff").glob("*.py"):
        if path.name == "cli.py" or path.name.startswith("cli_"):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n == "click" or n.startswith("click.") for n in names), path


def test_wheel_ships_queries_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
        check=True,
    )
    (wheel,) = (tmp_path / "dist").glob("recondiff-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "recondiff/queries/macros.sql" in names
    assert "recondiff/queries/situations.sql" in names
    assert any(n.startswith("recondiff/reports/") for n in names)
    assert "recondiff/schemas/plan.schema.json" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # Run from elsewhere, importing only the unpacked wheel (dependencies from
    # this environment): queries must come from inside the package.
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = (
        "import recondiff.queries as q, recondiff.compare as c, sys;"
        f"assert str(q.query_dir()).startswith({str(site)!r}), q.query_dir();"
        f"r = c.compare({str(SAMPLE / 'recondiff.toml')!r}, {str(tmp_path / 'out')!r});"
        "import recondiff.plan as p;"
        f"p.load_plan({str(tmp_path / 'out' / 'plan.json')!r});"  # the schema ships too
        "print(r.summary['situations']['linked'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 0
