"""The staged situations table (docs/architecture.md, "The staged situations
table"): situations.parquet is written from it and never read back; the plan,
the report and the history read it. What must hold:

* the history records exactly the rows that were published: its findings and
  ownerships of a run equal what the published situations.parquet says;
* a run stopped before its outputs are published records nothing (no run, no
  findings, the ownerships file untouched) and leaves the outputs as they were;
* once the outputs are written the table is cut down to the rows the plan and
  the report still read; with ``[situations] linked = "unlink"`` that is every
  row (each linked account, in sync or not, is an event), and with a small
  ``rows_per_table`` the report still shows the first linked accounts in sync.

Tiny directory (written down):
  a1..a4  linked to 1..4, title equal       -> linked, in sync
  b1      linked to 5, title differs        -> linked, drifted
  zed     no identity                       -> unmatched
  6       links to an account nobody has    -> missing
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from recondiff.compare import compare
from recondiff.engine.publish import Staging
from recondiff.history import History, history_path
from recondiff.io.sqlfiles import macros

ENDPOINT = "uid,title\na1,Eng\na2,Eng\na3,Eng\na4,Eng\nb1,Eng\nzed,Eng\n"
REPOSITORY = (
    "id,account,title\n1,a1,Eng\n2,a2,Eng\n3,a3,Eng\n4,a4,Eng\n5,b1,Boss\n6,gone,Eng\n"
)
CONFIG = """\
[endpoint]
name = "dir"
snapshot = "endpoint.csv"
key = "uid"

[repository]
name = "hr"
snapshot = "repository.csv"
key = "id"
link = "account"

[[attribute]]
endpoint = "title"
repository = "title"
"""


def _write(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "endpoint.csv").write_text(ENDPOINT, encoding="utf-8")
    (tmp_path / "repository.csv").write_text(REPOSITORY, encoding="utf-8")
    config = tmp_path / "recondiff.toml"
    config.write_text(CONFIG + extra, encoding="utf-8")
    return config


def _published(out: Path, sql: str) -> list[tuple[object, ...]]:
    """``sql`` over the published situations.parquet (as ``s``), on a connection
    with the rd_* macros (rd_finding, rd_is_finding)."""
    con = duckdb.connect()
    try:
        con.execute(macros())
        con.execute("CREATE TABLE s AS SELECT * FROM read_parquet($p)",
                    {"p": str(out / "situations.parquet")})
        return sorted(con.execute(sql).fetchall(), key=repr)
    finally:
        con.close()


def _recorded(out: Path, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(out / "history.duckdb"), read_only=True)
    try:
        return sorted(con.execute(sql).fetchall(), key=repr)
    finally:
        con.close()


def test_the_history_records_exactly_what_was_published(tmp_path: Path) -> None:
    config = _write(tmp_path)
    out = tmp_path / "out"
    compare(config, out)
    summary = compare(config, out).summary  # a second run: first seen carried
    run_id = summary["run"]["id"]
    findings = _published(
        out,
        "SELECT rd_finding(situation, sync, endpoint_key, identity_key), situation, sync,"
        " endpoint_key, identity_key FROM s WHERE rd_is_finding(situation, sync)",
    )
    assert len(findings) == 3  # b1 drifted, zed unmatched, 6 missing
    assert _recorded(
        out,
        "SELECT finding_key, situation, sync, endpoint_key, identity_key FROM findings"
        f" WHERE run_id = '{run_id}'",
    ) == findings
    (owners,) = out.glob("history-owners-*.parquet")
    pairs = _published(
        out,
        f"SELECT '{run_id}', identity_key, endpoint_key FROM s"
        " WHERE situation IN ('linked', 'correlated', 'deleted_in_repository')"
        " AND identity_key IS NOT NULL AND endpoint_key IS NOT NULL",
    )
    assert len(pairs) == 5
    assert sorted(duckdb.execute("SELECT * FROM read_parquet($p)", {"p": str(owners)})
                  .fetchall(), key=repr) == pairs


def test_a_run_stopped_before_publishing_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _write(tmp_path)
    out = tmp_path / "out"
    compare(config, out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "history.duckdb"}
    runs = History(history_path(out, None)).runs()

    def interrupted(self: Staging) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Staging, "publish", interrupted)
    (tmp_path / "endpoint.csv").write_text(ENDPOINT + "new1,Eng\n", encoding="utf-8")
    with pytest.raises(KeyboardInterrupt):
        compare(config, out)
    assert History(history_path(out, None)).runs() == runs
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != "history.duckdb"} == before


def test_every_linked_account_is_planned_when_linked_acts(tmp_path: Path) -> None:
    """[situations] linked = "unlink": the staged table keeps every row for the plan."""
    config = _write(tmp_path, '\n[situations]\nlinked = "unlink"\n')
    out = tmp_path / "out"
    compare(config, out)
    lines = (out / "plan.jsonl").read_text(encoding="utf-8").splitlines()[1:]
    unlinked = sorted({  # b1 has its drift's event too
        json.loads(line)["object"].get("key") for line in lines
        if json.loads(line)["reason"]["situation"] == "linked"
    })
    assert unlinked == ["a1", "a2", "a3", "a4", "b1"]


def test_the_report_shows_the_first_linked_accounts_in_sync(tmp_path: Path) -> None:
    """rows_per_table = 2: the staged table keeps the first two linked accounts in
    sync (in situations.parquet's order) for the report's table of them."""
    config = _write(tmp_path, "\n[report]\nrows_per_table = 2\n")
    out = tmp_path / "out"
    compare(config, out)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    (table,) = [t for t in report["tables"] if t["id"] == "linked-in_sync"]
    assert [r["endpoint_key"] for r in table["rows"]] == ["a1", "a2"]
    (drifted,) = [t for t in report["tables"] if t["id"] == "linked-drifted"]
    assert [r["endpoint_key"] for r in drifted["rows"]] == ["b1"]
