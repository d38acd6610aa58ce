"""The CSV files compare writes open safely in a spreadsheet.

Tiny directory (differences written down):
  =cmd     linked to 1; its key, DN and title start with a formula character;
           title "=HYPERLINK(...)" vs repository "+1-555"   -> drift (changed)
  @admin   linked to 2; department "-" vs repository "Sales" -> drift (changed);
           groups: endpoint has "=evil" the repository lacks  -> drift (added)
  'quoted  unmatched; its key starts with a quote
"""

from __future__ import annotations

import csv
from pathlib import Path

from recondiff.compare import compare
from recondiff.io.csvsafe import restore

ENDPOINT = (
    "key,dn,title,department,groups\n"
    '=cmd,"=cmd|\' /C calc\'!A0,OU=x","=HYPERLINK(""http://x"")",Ops,g1\n'
    "@admin,\"CN=admin,OU=x\",Boss,-,g1;=evil\n"
    "'quoted,\"CN=q,OU=x\",,,\n"
)
REPOSITORY = "id,account,title,department,groups\n1,=cmd,+1-555,Ops,g1\n2,@admin,Boss,Sales,g1\n"
CONFIG = """\
[endpoint]
name = "t"
snapshot = "endpoint.csv"
key = "key"
multi_valued = ["groups"]

[repository]
snapshot = "repository.csv"
key = "id"
link = "account"
multi_valued = ["groups"]

[[attribute]]
endpoint = "title"
repository = "title"

[[attribute]]
endpoint = "department"
repository = "department"

[[attribute]]
endpoint = "groups"
repository = "groups"
compare = "set"
"""

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def run(tmp_path: Path, bom: bool = False) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "endpoint.csv").write_text(ENDPOINT, encoding="utf-8")
    (tmp_path / "repository.csv").write_text(REPOSITORY, encoding="utf-8")
    extra = "\n[report]\ncsv_bom = true\n" if bom else ""
    text = CONFIG + extra
    (tmp_path / "recondiff.toml").write_text(text, encoding="utf-8")
    compare(tmp_path / "recondiff.toml", tmp_path / "out")
    return tmp_path / "out"


def rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def test_no_cell_of_any_csv_starts_a_formula(tmp_path: Path) -> None:
    out = run(tmp_path)
    for name in ("situations.csv", "drift.csv", "drift_diff.csv"):
        for row in rows(out / name):
            for cell in row:
                assert not cell.startswith(DANGEROUS), (name, cell)


def test_neutralised_cells_restore_to_the_values(tmp_path: Path) -> None:
    out = run(tmp_path)
    situations = {r[2]: r for r in rows(out / "situations.csv")[1:]}
    assert set(situations) == {"'=cmd", "'@admin", "''quoted"}
    assert [restore(k) for k in situations] == ["=cmd", "@admin", "'quoted"]
    assert situations["'=cmd"][3] == "'=cmd|' /C calc'!A0,OU=x"
    drift = [[restore(c) for c in r] for r in rows(out / "drift.csv")[1:]]
    assert [(r[0], r[3], r[6], r[7], r[8]) for r in drift] == [
        ("=cmd", "title", "changed", '=HYPERLINK("http://x")', "+1-555"),
        ("@admin", "department", "changed", "-", "Sales"),
        ("@admin", "groups", "added", "=evil", ""),
    ]


def test_diff_csv_has_one_row_per_drifted_account_and_old_to_new_cells(tmp_path: Path) -> None:
    out = run(tmp_path)
    table = rows(out / "drift_diff.csv")
    assert table[0] == ["endpoint_key", "identity_key", "situation", "title", "department", "groups"]
    assert [[restore(c) for c in r] for r in table[1:]] == [
        ["=cmd", "1", "linked", '=HYPERLINK("http://x")->+1-555', "", ""],
        ["@admin", "2", "linked", "", "-->Sales", "=evil->"],
    ]


def test_bom_on_request_only(tmp_path: Path) -> None:
    plain = run(tmp_path / "plain")
    assert not (plain / "situations.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    bom = run(tmp_path / "bom", bom=True)
    for name in ("situations.csv", "drift.csv", "drift_diff.csv"):
        data = (bom / name).read_bytes()
        assert data.startswith(b"\xef\xbb\xbf") and not data[3:].startswith(b"\xef\xbb\xbf")


def test_situations_csv_keeps_the_parquet_order_across_threads(tmp_path: Path) -> None:
    """250,000 unmatched accounts (situations.parquet then has three row groups,
    which DuckDB reads on several threads) and two threads: situations.csv
    lists them in the order of situations.parquet, the endpoint's record order.
    DuckDB writes a CSV in the order its threads finish unless the query sorts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 250_000
    keys = [f"u{i:06d}" for i in range(n)]
    pq.write_table(pa.table({"key": keys}), tmp_path / "endpoint.parquet", row_group_size=50_000)
    pq.write_table(
        pa.table({"id": ["1"], "account": ["nobody"]}), tmp_path / "repository.parquet"
    )
    (tmp_path / "recondiff.toml").write_text(
        '[endpoint]\nname = "t"\nsnapshot = "endpoint.parquet"\nkey = "key"\n\n'
        '[repository]\nsnapshot = "repository.parquet"\nkey = "id"\nlink = "account"\n\n'
        '[situations]\nunmatched = "do_nothing"\n\n[engine]\nthreads = 2\n',
        encoding="utf-8",
    )
    compare(tmp_path / "recondiff.toml", tmp_path / "out")
    with (tmp_path / "out" / "situations.csv").open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["situation"] == "unmatched"]
    assert [r["endpoint_key"] for r in rows] == keys
    assert [int(r["endpoint_record"]) for r in rows] == list(range(1, n + 1))
