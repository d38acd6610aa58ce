"""report.html in a real browser: Debian's chromium driven by Playwright for Python.

The page of the hostile fixture (tests/data/report/) is opened from file:// with
every network request refused and recorded: the filter narrows a table, a
column header sorts, a row opens its side-by-side view with the added/removed
marks, the toggle reveals the hidden tables, printing expands them. Any console
error (a Content-Security-Policy refusal included), page error or JavaScript
dialog fails the test. A screenshot goes to test-artifacts/report.png.

Skipped without playwright or /usr/bin/chromium; failed instead when
RECONDIFF_REQUIRE_SYSTEM=1. Never run ``playwright install``: the system
chromium is used.

The README's screenshot (docs/report-screenshot.png) is made by the same code:

    .venv/bin/python -m tests.test_report_browser --screenshot RUNDIR docs/report-screenshot.png

(RUNDIR holds report.json and, optionally, plan.jsonl; report.html is rendered
there first.)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recondiff.report.render import render_html, render_report
from tests.conftest import ROOT, require_system

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FIXTURE = ROOT / "tests" / "data" / "report"
ARTIFACTS = ROOT / "test-artifacts"
EVIL_TITLE = "<script>alert(1)</script>"


def _have_playwright() -> bool:
    return importlib.util.find_spec("playwright") is not None


class Session:
    """A browser page with everything that must not happen recorded."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        self.requests: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("dialog", self._dialog)
        page.context.route(lambda url: not url.startswith("file:"), self._refuse)

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")

    def _dialog(self, dialog: Any) -> None:
        self.problems.append(f"a script opened a {dialog.type} dialog: {dialog.message}")
        dialog.dismiss()

    def _refuse(self, route: Any) -> None:
        self.requests.append(route.request.url)
        route.abort()

    def open(self, html_file: Path) -> Any:
        self.page.goto(html_file.resolve().as_uri())
        self.page.wait_for_load_state("load")
        return self.page


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_system("playwright (pip install -e '.[test]')", _have_playwright())
    require_system("chromium (Debian package chromium)", CHROMIUM.exists())
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def session(browser: Any) -> Iterator[Session]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watched = Session(page)
    try:
        yield watched
        assert watched.problems == []
        assert watched.requests == [], "the report must not touch the network"
    finally:
        context.close()


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("run")
    for name in ("report.json", "plan.jsonl"):
        (run / name).write_bytes((FIXTURE / name).read_bytes())
    return render_report(run)


def visible_rows(page: Any, table: str) -> int:
    return int(page.locator(f"#rows-{table} tbody tr:visible").count())


def column(page: Any, table: str, index: int) -> list[str]:
    cells = page.locator(f"#rows-{table} tbody tr td:nth-child({index})")
    return [str(text).strip() for text in cells.all_inner_texts()]


def test_filter_narrows_a_table(session: Session, report_file: Path) -> None:
    page = session.open(report_file)
    assert visible_rows(page, "linked-drifted") == 5
    box = page.locator("#table-linked-drifted input.rd-filter")
    box.fill("LAURENT")
    assert visible_rows(page, "linked-drifted") == 1
    assert column(page, "linked-drifted", 1)[1] == "slaurent"
    assert page.locator("#count-linked-drifted").inner_text() == "1 of 5 rows match"
    box.fill("</SCRIPT>")  # case-insensitive, over every cell (here the DN)
    assert visible_rows(page, "linked-drifted") == 1
    box.fill("")
    assert visible_rows(page, "linked-drifted") == 5
    assert visible_rows(page, "unmatched") == 3, "other tables are not filtered"


def test_clicking_a_header_sorts(session: Session, report_file: Path) -> None:
    page = session.open(report_file)
    age = page.locator("#rows-linked-drifted thead button.sort", has_text="age (days)")
    age.click()
    assert column(page, "linked-drifted", 9) == ["0", "0", "3", "12", "40"]
    age.click()
    assert column(page, "linked-drifted", 9) == ["40", "12", "3", "0", "0"]
    page.locator("#rows-linked-drifted thead button.sort", has_text="account").click()
    assert column(page, "linked-drifted", 1) == ["eve", "lbecker", "mblanc", "o'brien", "slaurent"]
    header = page.locator("#rows-linked-drifted thead th", has_text="account")
    assert header.get_attribute("aria-sort") == "ascending"


def test_a_row_opens_its_side_by_side_view(session: Session, report_file: Path) -> None:
    page = session.open(report_file)
    dialog = page.locator("#rd-dialog")
    assert not dialog.is_visible()
    page.locator("#rows-linked-drifted tbody tr", has_text="slaurent").click()
    assert dialog.is_visible()
    assert "slaurent" in page.locator("#rd-dialog-title").inner_text()
    assert "100111" in page.locator("#rd-dialog-title").inner_text()
    rows = page.locator("#rd-sbs tr")
    assert rows.count() == 5
    proxies = page.locator("#rd-sbs tr", has_text="proxyAddresses")
    assert proxies.get_attribute("class") == "diff"
    endpoint, repository = proxies.locator("td.vals").nth(0), proxies.locator("td.vals").nth(1)
    assert endpoint.locator("li.added").inner_text() == "SMTP:sophie.laurent@example.org"
    assert endpoint.locator("li:not(.added)").inner_text() == "smtp:slaurent@example.org"
    assert repository.locator("li.removed").inner_text() == "SMTP:sophie.laurent-moreau@example.org"
    # the marks are visible words, not only colours
    mark = endpoint.locator("li.added").evaluate(
        "node => getComputedStyle(node, '::before').content"
    )
    assert "added" in mark
    sn = page.locator("#rd-sbs tr", has_text="last_name")
    assert sn.get_attribute("class") == "diff"
    assert sn.locator("td.vals").nth(0).inner_text() == "Laurent"
    assert sn.locator("td.vals").nth(1).inner_text() == "Laurent-Moreau"
    assert page.locator("#rd-sbs tr.same").count() == 3
    page.locator("#rd-only-diff").check()
    assert page.locator("#rd-sbs tr:visible").count() == 2
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-side-by-side.png"))
    page.locator("#rd-dialog-close").click()
    assert not dialog.is_visible()
    page.locator("#rows-linked-drifted tbody tr", has_text="lbecker").press("Enter")
    assert "lbecker" in page.locator("#rd-dialog-title").inner_text()


def test_hostile_values_are_shown_as_text(session: Session, report_file: Path) -> None:
    page = session.open(report_file)
    page.locator("#rows-linked-drifted tbody tr", has_text="eve").click()
    title = page.locator("#rd-sbs tr", has_text="casefold_trim").locator("td.vals").nth(0)
    assert title.inner_text() == EVIL_TITLE
    assert 'CN=Eve "The Hacker" </script><script>alert(2)</script>' in page.locator(
        "#rd-dialog-meta"
    ).inner_text()
    # only the page's own two scripts exist
    assert page.locator("script").count() == 2


def test_an_alert_opens_its_side_by_side_view(session: Session, report_file: Path) -> None:
    page = session.open(report_file)
    page.locator("#alerts a.open").first.click()
    assert "mblanc" in page.locator("#rd-dialog-title").inner_text()
    member_of = page.locator("#rd-sbs tr", has_text="memberOf")
    added = member_of.locator("td.vals").nth(0).locator("li.added")
    assert added.inner_text() == "CN=Domain Admins, CN=Users, DC=example, DC=org"


def test_a_detail_link_opens_the_view(session: Session, report_file: Path) -> None:
    page = session.open(report_file)
    page.goto(report_file.resolve().as_uri() + "#detail-d14")
    page.wait_for_selector("#rd-dialog[open]")
    assert "pgarcia" in page.locator("#rd-dialog-title").inner_text()
    assert page.locator("#rd-sbs tr.one").count() == 5


def test_the_toggle_reveals_the_hidden_tables(session: Session, report_file: Path) -> None:
    page = session.open(report_file)
    hidden = page.locator("#rd-hidden-tables")
    assert not hidden.is_visible()
    assert not page.locator("#table-excluded").is_visible()
    page.locator("label[for=rd-show-hidden]").click()
    assert hidden.is_visible()
    assert visible_rows(page, "excluded") == 2
    assert visible_rows(page, "linked-in_sync") == 2
    page.locator("label[for=rd-show-hidden]").click()
    assert not hidden.is_visible()


def test_print_expands_hidden_tables_and_drops_controls(
    session: Session, report_file: Path
) -> None:
    page = session.open(report_file)
    page.emulate_media(media="print")
    assert page.locator("#rd-hidden-tables").is_visible()
    assert not page.locator("input.rd-filter").first.is_visible()
    assert not page.locator("label[for=rd-show-hidden]").is_visible()


def test_dark_and_light(browser: Any, report_file: Path) -> None:
    colours = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(color_scheme=scheme)
        page = context.new_page()
        page.goto(report_file.resolve().as_uri())
        colours[scheme] = page.evaluate("getComputedStyle(document.body).backgroundColor")
        context.close()
    assert colours == {"light": "rgb(255, 255, 255)", "dark": "rgb(21, 24, 28)"}


def test_screenshot(session: Session, report_file: Path) -> None:
    page = session.open(report_file)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


def test_twelve_full_tables_open_and_filter(session: Session, tmp_path: Path) -> None:
    """At the limits docs/report.md allows, the page opens, a filter narrows a table
    and a row opens its side-by-side view (not timed: the benchmark measures)."""
    from recondiff.plan.file import load_plan
    from tests.test_report import _big_report

    big = tmp_path / "report.html"
    big.write_text(render_html(_big_report(), load_plan(FIXTURE / "plan.jsonl")), "utf-8")
    page = session.open(big)
    box = page.locator("#table-linked-drifted-0 input.rd-filter")
    box.fill("User 0-42,")
    assert visible_rows(page, "linked-drifted-0") == 1
    page.locator("#rows-linked-drifted-0 tbody tr:visible").click()
    assert "user0-42" in page.locator("#rd-dialog-title").inner_text()


def screenshot(rundir: Path, out: Path, width: int = 1280, height: int = 1100) -> Path:
    """Render RUNDIR/report.html and save the top of the page (header, alerts,
    cards, the first charts) as a PNG: the README's picture."""
    from playwright.sync_api import sync_playwright

    html = render_report(rundir)
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            page = chromium.new_page(
                viewport={"width": width, "height": height}, color_scheme="light"
            )
            page.goto(html.resolve().as_uri())
            page.wait_for_load_state("load")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
        finally:
            chromium.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.test_report_browser",
        description="Screenshot the top of a run's report.html (for the README).",
    )
    parser.add_argument("--screenshot", nargs=2, metavar=("RUNDIR", "OUT_PNG"), required=True)
    parser.add_argument("--size", default="1280x1100", help="viewport WIDTHxHEIGHT")
    args = parser.parse_args(argv)
    width, height = (int(n) for n in args.size.split("x"))
    rundir, out = (Path(p) for p in args.screenshot)
    if not (rundir / "report.json").exists():
        print(f"{rundir / 'report.json'}: missing; run recondiff compare first", file=sys.stderr)
        return 2
    print(json.dumps({"screenshot": str(screenshot(rundir, out, width, height))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
