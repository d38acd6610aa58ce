"""The classify phase's shape (queries/classify/, recondiff/engine/classify.py):
one full outer join decides every account by link, the few shared links are
grouped apart, and correlation patches the accounts it matches afterwards.
These pin what that shape could get wrong and no golden case shows: the
missing identities of a link several identities share, and the statistics of
the situation table once correlation has updated it (situations.parquet
declares a column required when it holds no NULL, as before)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from recondiff.compare import compare

CONFIG = """\
[endpoint]
name = "t"
snapshot = "endpoint.csv"
key = "sAMAccountName"
scope = "employeeType <> 'Service'"

[repository]
snapshot = "repository.csv"
key = "employee_id"
link = "ad_account"
status = "status"

[[correlation]]
name = "by-mail"
endpoint = "mail"
repository = "email"

[[attribute]]
endpoint = "title"
repository = "title"
"""


def _run(tmp_path: Path, endpoint: str, repository: str) -> list[tuple[object, ...]]:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "recondiff.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "endpoint.csv").write_text(endpoint, encoding="utf-8")
    (tmp_path / "repository.csv").write_text(repository, encoding="utf-8")
    compare(tmp_path / "recondiff.toml", tmp_path / "out")
    return duckdb.connect().execute(
        "SELECT situation, endpoint_key, identity_key, rule, candidates"
        " FROM read_parquet($p) ORDER BY ALL",
        {"p": str(tmp_path / "out" / "situations.parquet")},
    ).fetchall()


def test_every_live_identity_of_a_shared_link_to_an_absent_account_is_missing(
    tmp_path: Path,
) -> None:
    rows = _run(
        tmp_path,
        "sAMAccountName,mail,employeeType,title\n"
        "svc,,Service,Robot\n"
        "kept,,Employee,Clerk\n",
        "employee_id,ad_account,status,email,title\n"
        # two live identities and a deleted one name the absent account "gone"
        "E1,gone,active,,Clerk\n"
        "E2,GONE ,active,,Clerk\n"
        "E3,gone,deleted,,Clerk\n"
        # a shared link to an excluded account: it has its account, no one is missing
        "E4,svc,active,,Robot\n"
        "E5,svc,active,,Robot\n"
        # a shared link to a present account: ambiguous, the live identities as candidates
        "E6,kept,active,,Clerk\n"
        "E7,kept,deleted,,Clerk\n"
        "E8,Kept,active,,Clerk\n",
    )
    assert rows == [
        ("ambiguous", "kept", None, "link", ["E6", "E8"]),
        ("excluded", "svc", None, "scope", None),
        ("missing", "GONE ", "E2", "link", None),
        ("missing", "gone", "E1", "link", None),
    ]


def test_a_column_correlation_fills_in_is_required_in_situations_parquet(
    tmp_path: Path,
) -> None:
    """Every account linked or correlated: no row has a NULL rule. The
    correlated account was `unmatched` (rule NULL) until
    classify/correlated.sql updated it; situations.parquet must not keep the
    trace of that NULL (classify/correlated_rewrite.sql), as it does not when
    every account is linked."""
    repository = (
        "employee_id,ad_account,status,email,title\n"
        "E1,alice,active,alice@corp.example,Clerk\n"
        "E2,{link},active,bob@corp.example,Clerk\n"
    )
    endpoint = (
        "sAMAccountName,mail,employeeType,title\n"
        "alice,alice@corp.example,Employee,Clerk\n"
        "bob,BOB@corp.example,Employee,Clerk\n"
    )
    correlated = _run(tmp_path / "correlated", endpoint, repository.format(link=""))
    linked = _run(tmp_path / "linked", endpoint, repository.format(link="bob"))
    assert [r[:4] for r in correlated] == [
        ("correlated", "bob", "E2", "by-mail"),
        ("linked", "alice", "E1", "link"),
    ]
    assert [r[3] for r in linked] == ["link", "link"]
    schemas = [
        pq.read_schema(tmp_path / case / "out" / "situations.parquet")
        for case in ("correlated", "linked")
    ]
    assert [s.field("rule").nullable for s in schemas] == [False, False]
    assert [s.field("identity_key").nullable for s in schemas] == [False, False]


def test_with_an_account_left_unmatched_the_matched_ones_are_updated_in_place(
    tmp_path: Path,
) -> None:
    """classify/correlated_update.sql: the correlated account takes its
    situation, the one left unmatched keeps its NULLs, and the column says so."""
    rows = _run(
        tmp_path,
        "sAMAccountName,mail,employeeType,title\n"
        "bob,BOB@corp.example,Employee,Clerk\n"
        "carol,carol@corp.example,Employee,Clerk\n",
        "employee_id,ad_account,status,email,title\n"
        "E2,,active,bob@corp.example,Boss\n",
    )
    assert rows == [
        ("correlated", "bob", "E2", "by-mail", None),
        ("unmatched", "carol", None, None, None),
    ]
    schema = pq.read_schema(tmp_path / "out" / "situations.parquet")
    assert schema.field("rule").nullable
