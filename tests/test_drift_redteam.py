"""Red team of the drift rewrite (issue 19, branch `drift`): queries/drift/differences.sql
now normalises each distinct value once into a dictionary and writes one SELECT per
attribute (recondiff/engine/drift.py), where it used to unnest every drifted pair's
value lists; its outputs were to stay the same to the byte.

Found by differential testing: random tiny datasets (every compare kind, NULLs,
blanks, whitespace, duplicates in sets, case/space/DN spellings, NFC/NFD, Turkish
dotted I, long values, ';' '|' '"' and newlines in values, derived sides, odd
column names, a repository column mapped twice, CSV/JSON Lines/Parquet inputs)
run through the code before the rewrite and after it, every output compared.

Each difference found was a test marked ``xfail(strict=True)``, asserting what the
code before the rewrite wrote and docs/semantics.md asks for; all are closed now
(config expressions refuse COLLATE; a NULL list is [] in the plan's changes and
preconditions, queries/macros/events.sql), the marks dropped. The unmarked tests
pin outputs both versions wrote, byte for byte, written down here by hand from
docs/semantics.md (no old code runs at test time).
"""

from __future__ import annotations

import csv
import json
import unicodedata
from pathlib import Path
from typing import Any

from recondiff.compare import compare
from recondiff.errors import ConfigError
from recondiff.plan.file import load_plan

HEAD = """\
[endpoint]
name = "test-ad"
snapshot = "{endpoint_snapshot}"
key = "k"
{endpoint_extra}

[repository]
snapshot = "repository.csv"
key = "id"
link = "acct"
{repository_extra}
"""


def run(
    tmp_path: Path,
    attributes: str,
    endpoint: str,
    repository: str,
    *,
    endpoint_extra: str = "",
    repository_extra: str = "",
    endpoint_snapshot: str = "endpoint.csv",
) -> Path:
    if endpoint_snapshot == "endpoint.csv":
        (tmp_path / "endpoint.csv").write_text(endpoint, encoding="utf-8")
    (tmp_path / "repository.csv").write_text(repository, encoding="utf-8")
    config = tmp_path / "recondiff.toml"
    config.write_text(
        HEAD.format(
            endpoint_snapshot=endpoint_snapshot,
            endpoint_extra=endpoint_extra,
            repository_extra=repository_extra,
        )
        + attributes,
        encoding="utf-8",
    )
    compare(config, tmp_path / "out")
    return tmp_path / "out"


def run_collated(
    tmp_path: Path, attributes: str, endpoint: str, repository: str, **extra: str
) -> Path | None:
    """``run``, or None when the config is refused for its COLLATE: either fix of the
    collation findings below (refuse COLLATE in an expression, or compare the values
    as a column holding them) makes their tests pass."""
    try:
        return run(tmp_path, attributes, endpoint, repository, **extra)
    except ConfigError as exc:
        assert "collate" in str(exc).lower(), exc
        return None


def drift_rows(out: Path) -> list[list[str]]:
    """drift.csv without its header, each row as its cells."""
    with (out / "drift.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == [
        "endpoint_key",
        "identity_key",
        "situation",
        "attribute",
        "repository_attribute",
        "compare",
        "kind",
        "endpoint_value",
        "repository_value",
    ]
    return rows[1:]


def summary(out: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return result


# --- differences: the rewrite writes other drift than before ------------------------


COLLATED = """
[[attribute]]
endpoint = "title"
repository = "title"

[[attribute]]
name = "mailx"
endpoint_sql = "mail COLLATE NOCASE"
repository = "mail"
on_drift = "do_nothing"
"""


def test_collated_expression_is_compared_as_its_value(tmp_path: Path) -> None:
    # u1 drifts on title; its derived mail differs in case only, under compare exact.
    # docs/semantics.md: a derived side "is compared exactly as a column holding its
    # result would be"; a column holding A@x is not a@x under exact.
    out = run_collated(
        tmp_path,
        COLLATED,
        "k,title,mail\nu1,T1,A@x\n",
        "id,acct,title,mail\nE1,u1,T9,a@x\n",
    )
    if out is None:
        return
    assert drift_rows(out) == [
        ["u1", "E1", "linked", "title", "title", "exact", "changed", "T1", "T9"],
        ["u1", "E1", "linked", "mailx", "mail", "exact", "changed", "A@x", "a@x"],
    ]
    assert summary(out)["drift"]["by_attribute"] == {"title": 1, "mailx": 1}


CONTAMINATED = """
[[attribute]]
endpoint = "title"
repository = "title"

[[attribute]]
endpoint = "groups"
repository = "groups"
compare = "set"

[[attribute]]
name = "mailx"
endpoint_sql = "mail COLLATE NOCASE"
repository = "mail"
on_drift = "do_nothing"
"""


def test_collation_in_one_expression_does_not_hide_other_attributes(tmp_path: Path) -> None:
    # title and groups are plain columns; mail is equal on both sides. Under exact and
    # set, T1 is not t1 and A is not a (docs/semantics.md, "Compare kinds").
    out = run_collated(
        tmp_path,
        CONTAMINATED,
        "k,title,mail,groups\nu1,T1,m@x,A;b\nu2,t2,m@x,C\n",
        "id,acct,title,mail,groups\nE1,u1,t1,m@x,a;B\nE2,u2,t2,m@x,c\n",
        endpoint_extra='multi_valued = ["groups"]',
        repository_extra='multi_valued = ["groups"]',
    )
    if out is None:
        return
    assert drift_rows(out) == [
        ["u1", "E1", "linked", "title", "title", "exact", "changed", "T1", "t1"],
        ["u1", "E1", "linked", "groups", "groups", "set", "added", "A", ""],
        ["u1", "E1", "linked", "groups", "groups", "set", "added", "b", ""],
        ["u1", "E1", "linked", "groups", "groups", "set", "removed", "", "B"],
        ["u1", "E1", "linked", "groups", "groups", "set", "removed", "", "a"],
        ["u2", "E2", "linked", "groups", "groups", "set", "added", "C", ""],
        ["u2", "E2", "linked", "groups", "groups", "set", "removed", "", "c"],
    ]
    assert summary(out)["sync"] == {"in_sync": 0, "drifted": 2}
    assert summary(out)["differences"] == 2


# --- outputs both versions write alike (regression) -----------------------------------

EVERY_KIND = """
[[attribute]]
endpoint = "memberOf"
repository = "member_of"
compare = "dn_set"

[[attribute]]
endpoint = "groups"
repository = "groups"
compare = "casefold_set"

[[attribute]]
endpoint = "titles"
repository = "title"

[[attribute]]
endpoint = "emp"
repository = "emp"
compare = "integer"

[[attribute]]
endpoint = "enabled"
repository = "enabled"
compare = "boolean"

[[attribute]]
endpoint = "hired"
repository = "hired"
compare = "date"

[[attribute]]
endpoint = "uac"
repository = "uac"
compare = "uac_flags"

[[attribute]]
name = "tags"
endpoint = "tags"
repository_sql = "string_split(tag_text, '|')"
compare = "set"
"""


def every_kind_inputs() -> tuple[str, str]:
    jose_nfd = unicodedata.normalize("NFD", "José")
    assert jose_nfd != "José"
    endpoint = (
        "k,memberOf,groups,titles,emp,enabled,hired,uac,tags\n"
        'u1,"CN=Smith\\, J,OU=X,DC=corp;cn=a+uid=b,dc=x;CN=Staff,OU=Groups,DC=corp",'
        f"Staff;staff ;{jose_nfd};İstanbul,Dev;Ops,007,yes,2024-01-15T23:30:00-05:00,512,a;b;b; c\n"
        "u2,,  ,Dev,+7,n,never,0x200,\n"
        'u3,"CN=x,DC=y",A,"He said ""hi""",abc,maybe,20240115103000.0Z,foo,x\n'
    )
    repository = (
        "id,acct,member_of,groups,title,emp,enabled,hired,uac,tag_text\n"
        'E1,u1,"cn=smith\\2c j, ou=x, dc=corp;UID=B + CN=A,DC=X;CN=Wiki,OU=Groups,DC=corp",'
        "STAFF;josé;istanbul;Admins,Dev;Ops,7,TRUE,2024-01-16,66048,a|c\n"
        'E2,u2,"CN=Gone,DC=x",,Dev ,7,false,0,NORMAL_ACCOUNT,|\n'
        'E3,u3,"cn=x,dc=y",a,"He said ""hi""\nagain", ABC,MAYBE,2024-01-15,FOO,x| x\n'
    )
    return endpoint, repository


def test_every_kind_drift_outputs_byte_for_byte(tmp_path: Path) -> None:
    """Every compare kind on one tiny directory; drift.csv and drift_diff.csv as both
    the drift before the rewrite and after it write them, checked by hand against
    docs/semantics.md:

    * dn_set: `CN=Smith\\, J,...` = `cn=smith\\2c j, ou=x, ...` (escapes, spaces),
      `cn=a+uid=b` = `UID=B + CN=A` (multi-valued RDN sorted); Staff added, Wiki removed;
    * casefold_set: `Staff`, `staff ` and `STAFF` one value; José in NFD = josé in NFC;
      İstanbul folds to istanbul; Admins removed; a blank set (`  `) = an empty one;
    * exact on a multi-valued column: its values joined with ';' (`Dev;Ops` equal);
      `Dev` vs `Dev ` and a newline drift, shown as the sources spell them;
    * integer `007` = `7` = `+7`; `abc` vs ` ABC` compares trimmed, so drifts;
    * boolean `yes` = `TRUE`, `n` = `false`, `maybe` = `MAYBE`;
    * date: 23:30 at -05:00 is the 16th in UTC; `never` = `0` = no value; AD time;
    * uac_flags: `512` vs `66048` drifts; `0x200` = `NORMAL_ACCOUNT`; `foo` vs `FOO` drift;
    * set, derived: `a;b;b; c` (a single-valued column) is one value against
      string_split's list; the list `['', '']` is no value; ` x` is not `x` under set.
    """
    endpoint, repository = every_kind_inputs()
    out = run(
        tmp_path,
        EVERY_KIND,
        endpoint,
        repository,
        endpoint_extra='multi_valued = ["memberOf", "groups", "titles"]',
        repository_extra='multi_valued = ["member_of", "groups"]',
    )
    assert (out / "drift.csv").read_bytes().decode("utf-8") == (
        "endpoint_key,identity_key,situation,attribute,repository_attribute,compare,kind,"
        "endpoint_value,repository_value\n"
        'u1,E1,linked,memberOf,member_of,dn_set,added,"CN=Staff,OU=Groups,DC=corp",\n'
        'u1,E1,linked,memberOf,member_of,dn_set,removed,,"CN=Wiki,OU=Groups,DC=corp"\n'
        "u1,E1,linked,groups,groups,casefold_set,removed,,Admins\n"
        "u1,E1,linked,uac,uac,uac_flags,changed,512,66048\n"
        "u1,E1,linked,tags,tags,set,added,a;b;b; c,\n"
        "u1,E1,linked,tags,tags,set,removed,,a\n"
        "u1,E1,linked,tags,tags,set,removed,,c\n"
        'u2,E2,linked,memberOf,member_of,dn_set,removed,,"CN=Gone,DC=x"\n'
        "u2,E2,linked,titles,title,exact,changed,Dev,Dev \n"
        'u3,E3,linked,titles,title,exact,changed,"He said ""hi""","He said ""hi""\nagain"\n'
        "u3,E3,linked,emp,emp,integer,changed,abc, ABC\n"
        "u3,E3,linked,uac,uac,uac_flags,changed,foo,FOO\n"
        "u3,E3,linked,tags,tags,set,removed,, x\n"
    )
    assert (out / "drift_diff.csv").read_bytes().decode("utf-8") == (
        "endpoint_key,identity_key,situation,memberOf,groups,titles,emp,enabled,hired,uac,tags\n"
        'u1,E1,linked,"CN=Staff,OU=Groups,DC=corp->CN=Wiki,OU=Groups,DC=corp",'
        "'->Admins,,,,,512->66048,a;b;b; c->a;c\n"
        'u2,E2,linked,"\'->CN=Gone,DC=x",,Dev->Dev ,,,,,\n'
        'u3,E3,linked,,,"He said ""hi""->He said ""hi""\nagain",abc-> ABC,,,foo->FOO,\'-> x\n'
    )
    s = summary(out)
    assert s["drift"] == {
        "by_attribute": {
            "memberOf": 2,
            "groups": 1,
            "titles": 2,
            "emp": 1,
            "enabled": 0,
            "hired": 0,
            "uac": 2,
            "tags": 2,
        },
        "accounts": 3,
        "rows": 13,
    }
    assert s["sync"] == {"in_sync": 0, "drifted": 3}


ORDERED = """
[[attribute]]
endpoint = "groups"
repository = "groups"
compare = "set"

[[attribute]]
name = "mailx"
endpoint_sql = "mail COLLATE NOCASE"
repository = "mail"
on_drift = "do_nothing"
"""


def test_collation_in_one_expression_does_not_reorder_drift(tmp_path: Path) -> None:
    # mail is equal on both sides; groups drift (B, a, c added, D removed). drift.csv
    # sorts by value (results/drift_export.sql ORDER BY ... endpoint_value): 'B' < 'a'.
    out = run_collated(
        tmp_path,
        ORDERED,
        "k,mail,groups\nu1,m@x,B;a;c\n",
        "id,acct,mail,groups\nE1,u1,m@x,D\n",
        endpoint_extra='multi_valued = ["groups"]',
        repository_extra='multi_valued = ["groups"]',
    )
    if out is None:
        return
    assert drift_rows(out) == [
        ["u1", "E1", "linked", "groups", "groups", "set", "added", "B", ""],
        ["u1", "E1", "linked", "groups", "groups", "set", "added", "a", ""],
        ["u1", "E1", "linked", "groups", "groups", "set", "added", "c", ""],
        ["u1", "E1", "linked", "groups", "groups", "set", "removed", "", "D"],
    ]


MAIL_COLLATED = """
[[attribute]]
name = "mailx"
endpoint_sql = "mail COLLATE NOCASE"
repository = "mail"
on_drift = "do_nothing"
"""


def test_collated_expression_alone_drifts_like_a_column(tmp_path: Path) -> None:
    out = run_collated(tmp_path, MAIL_COLLATED, "k,mail\nu1,A@x\n", "id,acct,mail\nE1,u1,a@x\n")
    if out is None:
        return
    assert drift_rows(out) == [
        ["u1", "E1", "linked", "mailx", "mail", "exact", "changed", "A@x", "a@x"],
    ]


ODD_NAMES = """
[[attribute]]
endpoint = "select"
repository = "title"

[[attribute]]
name = "title-folded"
endpoint = "e1"
repository = "title"
compare = "casefold"

[[attribute]]
endpoint = "we\\"ird"
repository = "grp"
compare = "casefold_set"

[[attribute]]
endpoint = "ep_row"
repository = "Dept Name"
compare = "trim"

[[attribute]]
name = "ep-count"
endpoint_sql = "len(\\"we\\"\\"ird\\")"
repository = "n"
compare = "integer"
on_drift = "do_nothing"
"""


def test_odd_names_shared_column_json_lines_nulls_byte_for_byte(tmp_path: Path) -> None:
    """Column names the rewritten query could mistake for its own (`e1`, `ep_row`,
    `select`, a quote, a space), one repository column under two kinds, a JSON Lines
    endpoint with nulls (a null element dropped, an empty list) and a NUL character,
    a derived count. By docs/semantics.md:

    * u1: `İ` vs `JOSÉ` under exact drifts; José in NFD = JOSÉ under casefold; the
      set {Staff, staff, Ünïcode (NFD)} = {ÜNÏCODE, STAFF}; NBSP/tab trimmed (Sales);
      the derived count is 3 (the null dropped) against 4;
    * u2: null, '' and '   ' are all no value; len([]) = 0 = '0';
    * u3: the NUL is written as U+2400; `a;b` (one JSON element) vs {a, b}; Ops vs ops
      under trim; `1` = `+1`.
    """
    nfd = unicodedata.normalize
    endpoint = [
        {
            "k": "u1",
            "select": "İ",
            "e1": nfd("NFD", "José"),
            'we"ird': ["Staff", None, "staff", nfd("NFD", "Ünïcode")],
            "ep_row": "\u00a0Sales\t",
            "n": None,
        },
        {"k": "u2", "select": None, "e1": "", 'we"ird': [], "ep_row": None},
        {"k": "u3", "select": "a\u0000b", "e1": "x|y", 'we"ird': ["a;b"], "ep_row": "Ops"},
    ]
    (tmp_path / "endpoint.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in endpoint), encoding="utf-8"
    )
    out = run(
        tmp_path,
        ODD_NAMES,
        "unused\n",
        "id,acct,title,grp,Dept Name,n\n"
        "E1,u1,JOSÉ,ÜNÏCODE;STAFF,Sales,4\nE2,u2,   ,,,0\nE3,u3,ab,a;b,ops,+1\n",
        endpoint_extra="",
        repository_extra='multi_valued = ["grp"]',
        endpoint_snapshot="endpoint.jsonl",
    )
    assert (out / "drift.csv").read_bytes().decode("utf-8") == (
        "endpoint_key,identity_key,situation,attribute,repository_attribute,compare,kind,"
        "endpoint_value,repository_value\n"
        "u1,E1,linked,select,title,exact,changed,\u0130,JOS\xc9\n"
        "u1,E1,linked,ep-count,n,integer,changed,3,4\n"
        "u3,E3,linked,select,title,exact,changed,a\u2400b,ab\n"
        "u3,E3,linked,title-folded,title,casefold,changed,x|y,ab\n"
        'u3,E3,linked,"we""ird",grp,casefold_set,added,a;b,\n'
        'u3,E3,linked,"we""ird",grp,casefold_set,removed,,a\n'
        'u3,E3,linked,"we""ird",grp,casefold_set,removed,,b\n'
        "u3,E3,linked,ep_row,Dept Name,trim,changed,Ops,ops\n"
    )
    s = summary(out)
    assert s["drift"] == {
        "by_attribute": {
            "select": 2,
            "title-folded": 1,
            'we"ird': 1,
            "ep_row": 1,
            "ep-count": 1,
        },
        "accounts": 2,
        "rows": 8,
    }
    assert s["sync"] == {"in_sync": 1, "drifted": 2}


# --- found on the way, outside drift (both versions) ---------------------------------


def test_plan_with_a_null_list_precondition_loads(tmp_path: Path) -> None:
    (tmp_path / "endpoint.jsonl").write_text(
        '{"k": "u1", "groups": ["a"]}\n{"k": "u2", "groups": null}\n', encoding="utf-8"
    )
    out = run(
        tmp_path,
        '[[attribute]]\nendpoint = "groups"\nrepository = "groups"\ncompare = "set"\n',
        "unused\n",
        "id,acct,groups\nE1,u1,a\n",
        endpoint_snapshot="endpoint.jsonl",
    )
    plan = load_plan(out / "plan.jsonl")
    (event,) = plan["events"]
    assert event["object"]["key"] == "u2"


def test_compare_survives_a_null_list_under_update_repository(tmp_path: Path) -> None:
    (tmp_path / "endpoint.jsonl").write_text(
        '{"k": "u1", "mail": "m@x", "groups": null}\n', encoding="utf-8"
    )
    out = run(
        tmp_path,
        '[[correlation]]\nname = "by-mail"\nendpoint = "mail"\nrepository = "mail"\n\n'
        '[[attribute]]\nendpoint = "groups"\nrepository = "groups"\n'
        'on_drift = "update_repository"\n',
        "unused\n",
        "id,acct,mail,groups\nE1,,m@x,a\n",
        endpoint_extra='multi_valued = ["groups"]',
        endpoint_snapshot="endpoint.jsonl",
    )
    assert drift_rows(out) == [
        ["u1", "E1", "correlated", "groups", "groups", "exact", "changed", "", "a"],
    ]
