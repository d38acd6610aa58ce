"""The report of a run with identity policies (docs/report.md, "Identity policies";
docs/policies.md): why a drifting repository value is expected, the section's
counts and lists in report.json and report.html, the plan's policy events in
the page, a hostile `when` and value shown as text (also in a real browser),
and a run without policies whose report has none of it.

The directory below, what its policies do (max_recursion = 2):

* E1/alice, role manager: ``role-manager`` sets department Management (pass 1),
  ``management-groups`` then grants cn=Managers (pass 2); ``boss-title`` would
  follow from cn=Managers: pending the next sync. The endpoint still has Sales
  and no cn=Managers: two drift rows a policy explains.
* E2/bob and E5/dan, role sales: ``sales-team`` and ``sales-by-id`` set their
  department to different values: two conflicts, nothing chosen.
* E3/carol: ``old-policy`` (never applies) is deallocated and its cn=Old
  removed; ``finance`` (reapply) reallocated; ``external-x`` is no [[policy]]
  (unknown, kept). The endpoint keeps cn=Old: drift no policy explains.
* E4/eve: department ``<script>alert(1)</script>``; ``hostile``, whose `when`
  names that value, sets title ``<img src=x onerror=alert(2)>``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from recondiff.compare import compare
from recondiff.errors import InputError
from recondiff.plan.file import load_plan
from recondiff.report.render import render_html, render_report
from tests.conftest import require_system
from tests.test_report_browser import ARTIFACTS, CHROMIUM, Session, _have_playwright, launch

ENDPOINT = """uid,department,title,memberOf
alice,Sales,Clerk,cn=Sales
bob,Sales,Clerk,cn=Sales
carol,Finance,Clerk,cn=Finance;cn=Old
eve,<script>alert(1)</script>,Clerk,
dan,Sales,Clerk,cn=Sales
"""

REPOSITORY = """id,account,role,department,title,groups,applied_policies
E1,alice,manager,Sales,Clerk,cn=Sales,
E2,bob,sales,Sales,Clerk,cn=Sales,
E3,carol,staff,Finance,Clerk,cn=Finance;cn=Old,old-policy;finance;external-x
E4,eve,staff,<script>alert(1)</script>,Clerk,,
E5,dan,sales,Sales,Clerk,cn=Sales,
"""

ATTRIBUTES = """
[endpoint]
name = "ldap"
snapshot = "endpoint.csv"
key = "uid"
multi_valued = ["memberOf"]

[repository]
snapshot = "repository.csv"
key = "id"
link = "account"
multi_valued = ["groups", "applied_policies"]

[[attribute]]
endpoint = "department"
repository = "department"

[[attribute]]
endpoint = "title"
repository = "title"

[[attribute]]
endpoint = "memberOf"
repository = "groups"
compare = "dn_set"
"""

POLICIES = """
[policies]
applied = "applied_policies"
max_recursion = 2
response = "review"

[[policy]]
name = "role-manager"
when = "role = 'manager'"
set = { department = "Management" }

[[policy]]
name = "management-groups"
when = "department = 'Management'"
grant = { groups = ["cn=Managers"] }

[[policy]]
name = "boss-title"
when = "list_contains(groups, 'cn=Managers')"
set = { title = "Boss" }

[[policy]]
name = "old-policy"
when = "false"
grant = { groups = ["cn=Old"] }

[[policy]]
name = "finance"
when = "department = 'Finance'"
grant = { groups = ["cn=Finance"] }
reapply = true

[[policy]]
name = "sales-team"
when = "role = 'sales'"
set = { department = "Sales-Team" }

[[policy]]
name = "sales-by-id"
when = "role = 'sales'"
set_sql = { department = "'Sales-' || id" }

[[policy]]
name = "hostile"
when = "department = '<script>alert(1)</script>'"
set = { title = "<img src=x onerror=alert(2)>" }
"""

HOSTILE_WHEN = "department = '<script>alert(1)</script>'"
HOSTILE_VALUE = "<img src=x onerror=alert(2)>"
WHY_GROUP = "cn=Managers expected: policy management-groups, department = 'Management'"
WHY_DEPARTMENT = "Management expected: policy role-manager, role = 'manager'"
WHY_HOSTILE = f"{HOSTILE_VALUE} expected: policy hostile, {HOSTILE_WHEN}"


def run(tmp_path: Path, extra: str = "", policies: str = POLICIES) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "endpoint.csv").write_text(ENDPOINT, encoding="utf-8")
    (tmp_path / "repository.csv").write_text(REPOSITORY, encoding="utf-8")
    (tmp_path / "recondiff.toml").write_text(ATTRIBUTES + policies + extra, encoding="utf-8")
    compare(tmp_path / "recondiff.toml", tmp_path / "out")
    return tmp_path / "out"


def report_of(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run(tmp_path_factory.mktemp("policies"))


def embedded_details(html: str) -> Any:
    start = html.index('<script type="application/json" id="rd-details">')
    start = html.index(">", start) + 1
    return json.loads(html[start:html.index("</script>", start)])


class _Text(HTMLParser):
    """The page's text, per element id (the sections), as a browser would show it."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("td", "th", "br", "p", "li", "tr"):
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def section_text(html: str, section_id: str) -> str:
    start = html.index(f'<section id="{section_id}">')
    end = html.index("</section>", start)
    parser = _Text()
    parser.feed(html[start:end])
    return " ".join("".join(parser.parts).split())


# --- report.json -------------------------------------------------------------------------


def test_report_json_says_which_policy_expects_each_drifting_value(out: Path) -> None:
    report = report_of(out)
    expected = report["policies"]["expected"]
    assert expected["total"] == 3
    assert [
        (r["endpoint_key"], r["identity_key"], r["attribute"], r["kind"], r["endpoint_value"],
         r["repository_value"], r["policy"], r["when"])
        for r in expected["rows"]
    ] == [
        ("alice", "E1", "department", "changed", "Sales", "Management", "role-manager",
         "role = 'manager'"),
        ("alice", "E1", "memberOf", "removed", None, "cn=Managers", "management-groups",
         "department = 'Management'"),
        ("eve", "E4", "title", "changed", "Clerk", HOSTILE_VALUE, "hostile", HOSTILE_WHEN),
    ]
    # each row opens the side-by-side view of its account, which says the same
    for row in expected["rows"]:
        detail = report["details"][row["detail"]]
        assert detail["endpoint_key"] == row["endpoint_key"]
        pair = next(a for a in detail["attributes"] if a["attribute"] == row["attribute"])
        assert {"value": row["repository_value"], "policy": row["policy"],
                "when": row["when"]} in pair["expected"]
    # carol's cn=Old (removed by the deallocation, still on the endpoint) is drift no
    # policy explains: her pairs carry no `expected`
    # the page's compact side-by-side data carries them: [value, policy, when]
    compact = embedded_details((out / "report.html").read_text(encoding="utf-8"))
    alice = next(d for d in compact["d"].values() if d[0] == "alice")
    assert [pair[8] for pair in alice[4] if len(pair) > 8] == [
        [["Management", "role-manager", "role = 'manager'"]],
        [["cn=Managers", "management-groups", "department = 'Management'"]],
    ]
    carol = next(d for d in report["details"].values() if d["endpoint_key"] == "carol")
    member_of = next(a for a in carol["attributes"] if a["attribute"] == "memberOf")
    assert member_of["added"] == ["cn=Old"]
    assert all("expected" not in a for a in carol["attributes"])


def test_report_json_policies_section_counts_and_lists(out: Path) -> None:
    report = report_of(out)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    section = report["policies"]
    assert section["counts"] == summary["policies"] == {
        "policies": 8, "passes": 2, "identities_changed": 3, "allocated": 3,
        "deallocated": 1, "reallocated": 1, "pending": 1, "conflicts": 2, "unknown_applied": 1,
    }
    assert section["conflicts"] == {"total": 2, "rows": [
        {"identity_key": "E2", "attribute": "department", "policies": ["sales-team", "sales-by-id"],
         "values": ["Sales-Team", "Sales-E2"], "pass": 1},
        {"identity_key": "E5", "attribute": "department", "policies": ["sales-team", "sales-by-id"],
         "values": ["Sales-Team", "Sales-E5"], "pass": 1},
    ]}
    assert section["pending"] == {"total": 1, "rows": [
        {"identity_key": "E1", "applied": ["role-manager", "management-groups"],
         "pending": ["boss-title"]},
    ]}
    changed = section["changed"]
    assert changed["total"] == 3
    assert [(c["identity_key"], c["allocated"], c["deallocated"], c["reallocated"])
            for c in changed["rows"]] == [
        ("E1", ["role-manager", "management-groups"], [], []),
        ("E3", [], ["old-policy"], ["finance"]),
        ("E4", ["hostile"], [], []),
    ]
    assert {"op": "delete", "attribute": "groups", "values": ["cn=Old"]} in changed["rows"][1][
        "changes"]


def test_each_list_is_capped_at_rows_per_table_and_says_its_total(tmp_path: Path) -> None:
    out = run(tmp_path, extra="\n[report]\nrows_per_table = 1\n")
    section = report_of(out)["policies"]
    assert [(section[k]["total"], len(section[k]["rows"]))
            for k in ("expected", "conflicts", "changed", "pending")] == [
        (3, 1), (2, 1), (3, 1), (1, 1)]
    text = section_text((out / "report.html").read_text(encoding="utf-8"), "policies")
    assert "Drift on values a policy expects (3) 1 shown of 3" in text
    assert "Conflicts (2) 1 shown of 2 — the rest is in policy_conflicts.csv" in text
    assert "Identities the policies change (3) 1 shown of 3" in text


# --- report.html --------------------------------------------------------------------------


def test_report_html_shows_the_section_and_why_values_are_expected(out: Path) -> None:
    html = (out / "report.html").read_text(encoding="utf-8")
    assert '<a href="#policies">identity policies</a>' in html
    text = section_text(html, "policies")
    assert ("policies passes identities changed allocated deallocated reallocated pending "
            "conflicts unknown applied 8 2 3 3 1 1 1 2 1") in text
    for why in (WHY_DEPARTMENT, WHY_GROUP, WHY_HOSTILE):
        assert why in text
    assert "E2 department sales-team, sales-by-id Sales-Team, Sales-E2 1" in text
    assert "E5 department sales-team, sales-by-id Sales-Team, Sales-E5 1" in text
    assert "Pending the next sync (1)" in text
    assert "E1 role-manager, management-groups boss-title" in text
    assert "E3 old-policy finance delete groups: cn=Old" in text
    # the plan's view: drift items say why; the policies' repository events (response
    # review: pending) name their identity and what they allocate
    plan = section_text(html, "plan")
    assert f"memberOf: removed cn=Managers (review); {WHY_GROUP}" in plan
    assert f"department: Sales → Management (review); {WHY_DEPARTMENT}" in plan
    assert ("repository pending modify review identity E1 policy "
            "policies allocated: role-manager, management-groups") in plan
    assert "policies deallocated: old-policy policies reallocated: finance" in plan


def test_hostile_when_and_values_are_escaped(out: Path) -> None:
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert html.count("<script") == 2  # the page's own: its data and its script


def test_report_rendered_again_from_report_json_is_the_same(out: Path, tmp_path: Path) -> None:
    rundir = tmp_path / "run"
    rundir.mkdir()
    for name in ("report.json", "plan.jsonl"):
        (rundir / name).write_bytes((out / name).read_bytes())
    assert render_report(rundir).read_text(encoding="utf-8") == (out / "report.html").read_text(
        encoding="utf-8")


@pytest.mark.parametrize(
    ("path", "named"),
    [
        (("policies", "conflicts", "total"), "policies/conflicts/total: missing"),
        (("policies", "counts", "pending"), "policies/counts/pending: missing"),
        (("policies", "expected", "rows", 0, "when"), "policies/expected/rows/0/when: missing"),
    ],
)
def test_a_policies_key_missing_from_report_json_is_one_line(
    out: Path, path: tuple[Any, ...], named: str
) -> None:
    data = copy.deepcopy(report_of(out))
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    with pytest.raises(InputError) as err:
        render_html(data, load_plan(out / "plan.jsonl"))
    assert named in str(err.value) and "\n" not in str(err.value)


def test_a_pair_expected_without_its_policy_is_refused(out: Path) -> None:
    data = copy.deepcopy(report_of(out))
    pair = next(a for d in data["details"].values() for a in d["attributes"] if "expected" in a)
    pair["expected"][0]["policy"] = None
    with pytest.raises(InputError, match=r"expected/0/policy: expected a string"):
        render_html(data, None)


def test_a_run_without_policies_has_no_policies_section(tmp_path: Path) -> None:
    """A config without [[policy]]: report.json has no `policies` and no pair an
    `expected`; the page no section (the golden page of tests/test_report.py holds
    the rest of it unchanged)."""
    out = run(tmp_path, policies="")
    report = report_of(out)
    assert "policies" not in report
    assert all("expected" not in a for d in report["details"].values() for a in d["attributes"])
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="policies"' not in html and "#policies" not in html
    assert not (out / "policies.parquet").exists()


# --- in a real browser --------------------------------------------------------------------


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
    watched = Session(context.new_page())
    try:
        yield watched
        assert watched.problems == [], "no script ran, no dialog opened, no CSP refusal"
        assert watched.requests == [], "the report must not touch the network"
    finally:
        context.close()


def test_in_a_browser_the_section_is_visible_and_hostile_text_inert(
    session: Session, out: Path
) -> None:
    page = session.open(out / "report.html")
    page.locator('nav a[href="#policies"]').click()
    section = page.locator("#policies")
    assert section.is_visible()
    assert page.locator('#policy-counts td[data-count="conflicts"]').inner_text() == "2"
    assert page.locator('#policy-counts td[data-count="pending"]').inner_text() == "1"
    why = page.locator("#policy-expected td.why").all_inner_texts()
    assert why == [WHY_DEPARTMENT, WHY_GROUP, WHY_HOSTILE]
    assert page.locator("#policy-conflicts tbody tr").count() == 2
    assert page.locator("#policy-pending tbody tr").inner_text().split("\t") == [
        "E1", "role-manager, management-groups", "boss-title"]
    # the hostile `when` and value are text: no element made of them, no dialog
    # (the session fails on any), only the page's own two scripts
    assert page.locator("#policies img, #plan img").count() == 0
    assert page.locator("script").count() == 2
    # a row of the drift a policy explains opens its account's side-by-side view,
    # which says why beside the repository's value, as text
    page.locator("#policy-expected tbody tr", has_text="eve").click()
    assert "eve" in page.locator("#rd-dialog-title").inner_text()
    title = page.locator("#rd-sbs tr", has_text="title").locator("td.vals").nth(1)
    assert title.locator("li").inner_text() == HOSTILE_VALUE
    assert title.locator("p.why").inner_text() == WHY_HOSTILE
    assert page.locator("#rd-dialog img, #rd-dialog script").count() == 0
    page.locator("#rd-dialog-close").click()
    # so does alice's row in the situation tables: both her drifting values explained
    page.locator("#rows-linked-drifted tbody tr", has_text="alice").click()
    assert page.locator("#rd-sbs p.why").all_inner_texts() == [WHY_DEPARTMENT, WHY_GROUP]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-policies-side-by-side.png"))
    # carol's cn=Old is drift no policy explains
    page.locator("#rd-dialog-close").click()
    page.locator("#rows-linked-drifted tbody tr", has_text="carol").click()
    assert page.locator("#rd-sbs p.why").count() == 0
