"""The repository stands alone: a clone anywhere runs its tests and reads its docs.

Nothing tracked may point outside the checkout (a sibling ``shared/`` folder, an
absolute path of one machine), and every relative link in the Markdown files
must land on a file of the repository.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
THIS = Path(__file__).resolve()


def _tracked() -> list[Path]:
    try:
        names = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):  # an sdist, not a clone
        names = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if ".venv" not in p.parts]
    return [ROOT / n for n in names if n and (ROOT / n).is_file()]


TEXT = {".py", ".md", ".sql", ".toml", ".j2", ".sh", ".txt", ".cfg", ".json", ""}
OUTSIDE = re.compile(r"\.\./shared|/work/shared|/work/main|parents\[2\]")


def test_no_file_points_outside_the_repository() -> None:
    offenders = []
    for path in _tracked():
        if path.suffix not in TEXT or path == THIS or "third_party" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize(
    "doc",
    [p for p in _tracked() if p.suffix == ".md" and "third_party" not in p.parts],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_markdown_links_stay_inside_and_exist(doc: Path) -> None:
    broken = []
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        resolved = (doc.parent / target.split("#", 1)[0]).resolve()
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            broken.append(target)
    assert broken == []
