"""``recondiff explore`` and compare's own explore, against a real slapd (tests/slapd.py).

The CLI on the fixture directory (only the attributes the config needs); three
entries modified after a run and ``--since-last`` returns exactly those three;
explore -> compare -> apply -> explore -> compare leaves no drift, with the
snapshots kept in OUTDIR (surviving the publish and the decided plan's
archive) and re-run offline to the same result; a password is never an option
and never in an output; a refused bind is one line, exit 2, and leaves the
previous OUTDIR as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from recondiff.cli.main import cli
from recondiff.config.load import load_config
from recondiff.explore import needed_attributes
from recondiff.explore.sources import SNAPSHOTS, kept
from recondiff.explore.state import CLOCK_MARGIN
from recondiff.plan.file import load_plan
from tests.conftest import ROOT
from tests.plans import apply_unsigned as apply_plan
from tests.plans import decide
from tests.plans import save_with_decisions as save_plan
from tests.slapd import Slapd, ldap_server

__all__ = ["ldap_server"]  # the fixture, imported so pytest finds it here

pytestmark = pytest.mark.system  # slapd, ldap-utils

LOOP = ROOT / "tests" / "data" / "loop"
PEOPLE = "ou=people,dc=example,dc=org"
PW_VAR = "RD_EXPLORE_TEST_PW"


def run_cli(*args: str, code: int = 0, env: dict[str, str] | None = None) -> Any:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result


def source_config(run: Path, server: Slapd, *, password_env: str = PW_VAR) -> Path:
    """tests/data/loop's config with the directory explored instead of exported."""
    text = (LOOP / "recondiff.toml").read_text(encoding="utf-8")
    text = text.replace('snapshot = "directory-export.ldif"\n', "")
    source = (
        "\n[endpoint.source]\n"
        f'url = "{server.url}"\n'
        f'base = "{PEOPLE}"\n'
        'filter = "(objectClass=inetOrgPerson)"\n'
        f'bind_dn = "{server.admin_dn}"\n'
        f'password_env = "{password_env}"\n'
        "page_size = 2\n"
        "keep_snapshots = 2\n"
    )
    text = text.replace("\n[repository]\n", source + "\n[repository]\n")
    run.mkdir(parents=True, exist_ok=True)
    (run / "recondiff.toml").write_text(text, encoding="utf-8")
    shutil.copy(LOOP / "identities.csv", run / "identities.csv")
    return run / "recondiff.toml"


def rows(path: Path) -> dict[str, dict[str, Any]]:
    table = pq.read_table(path).to_pylist()
    return {r["dn"].split(",")[0].split("=")[1]: r for r in table}


@pytest.fixture
def loop_server(tmp_path: Path) -> Any:
    from tests.conftest import require_system
    from tests.slapd import available

    require_system("slapd (Debian packages slapd and ldap-utils)", available())
    ldap = Slapd(tmp_path / "slapd")
    try:
        ldap.load(LOOP / "directory.ldif")
        yield ldap
    finally:
        ldap.stop()


# -- recondiff explore ----------------------------------------------------------------


def test_explore_cli_reads_the_fixture_directory(ldap_server: Slapd, tmp_path: Path) -> None:
    out = tmp_path / "snap" / "people.parquet"
    result = run_cli(
        "explore", "--url", ldap_server.url, "--base", PEOPLE,
        "--filter", "(objectClass=inetOrgPerson)", "--bind-dn", ldap_server.admin_dn,
        "--password-file", str(ldap_server.password_file), "--page-size", "2", "-o", str(out),
        env={"RECONDIFF_PROGRESS": "1"},
    )  # fmt: skip
    assert "explored 5 entries in " in result.stderr  # progress: on stderr, never stdout
    printed = json.loads(result.stdout)
    assert printed["path"] == str(out) and printed["rows"] == 5 and printed["delta"] is False
    assert set(rows(out)) == {"jdoe", "asmith", "bwong", "cdavis", "administrator"}
    assert printed["high_water"]  # recorded for a later --since-last
    assert (tmp_path / "snap" / "history.duckdb").exists()


def test_explore_with_a_config_reads_only_what_the_config_needs(
    loop_server: Slapd, tmp_path: Path
) -> None:
    config = source_config(tmp_path / "run", loop_server)
    cfg = load_config(config)
    needed = needed_attributes(cfg, "endpoint")
    assert needed[:2] == ["dn", "uid"]
    for name in ("cn", "sn", "title", "memberOf", "mail", "entryUUID", "pwdAccountLockedTime"):
        assert name in needed
    assert needed_attributes(cfg, "repository")[:3] == ["dn", "id", "full_name"]
    assert "account" in needed_attributes(cfg, "repository")  # link and create_dn's {account}

    out = tmp_path / "ep.parquet"
    run_cli("explore", "-c", str(config), "-o", str(out), env={PW_VAR: loop_server.password})
    columns = {c.lower() for c in pq.read_schema(out).names}
    assert columns <= {n.lower() for n in needed}
    assert {"dn", "uid", "memberof", "entryuuid"} <= columns
    assert "objectclass" not in columns and "userpassword" not in columns


def test_scope_and_sql_expressions_name_their_columns(tmp_path: Path) -> None:
    text = (LOOP / "recondiff.toml").read_text(encoding="utf-8")
    text = text.replace('kind = "openldap"\n', 'kind = "openldap"\n'
                        "scope = \"lower(employeeType) <> 'service' AND NOT starts_with(uid, 'x')\"\n")
    text = text.replace('endpoint = "mail"\n', "endpoint_sql = \"list_transform(mailAlias, a -> lower(a))\"\n")
    (tmp_path / "recondiff.toml").write_text(text, encoding="utf-8")
    needed = needed_attributes(load_config(tmp_path / "recondiff.toml"), "endpoint")
    assert "employeeType" in needed and "mailAlias" in needed
    assert "a" not in needed  # a lambda's parameter


def test_since_last_returns_exactly_the_three_modified_entries(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    common = ["--url", ldap_server.url, "--base", PEOPLE, "--bind-dn", ldap_server.admin_dn,
              "--filter", "(objectClass=inetOrgPerson)",
              "--password-env", PW_VAR, "--state", str(tmp_path / "state")]  # fmt: skip
    env = {PW_VAR: ldap_server.password}
    # the fixture was loaded within this second: a read that starts a margin later
    # knows no change can race with it, and the next one starts after its mark
    time.sleep(CLOCK_MARGIN + 1.2)
    full = json.loads(run_cli("explore", *common, "-o", str(tmp_path / "full.parquet"),
                              env=env).stdout)  # fmt: skip
    assert full["rows"] == 5
    time.sleep(1.1)  # a later second than the mark
    changed = ("jdoe", "bwong", "administrator")
    ldap_server.modify("".join(
        f"dn: uid={uid},{PEOPLE}\nchangetype: modify\nreplace: title\ntitle: Changed {uid}\n\n"
        for uid in changed
    ))  # fmt: skip
    delta_path = tmp_path / "delta.parquet"
    delta = json.loads(run_cli("explore", *common, "--since-last", "-o", str(delta_path),
                               env=env).stdout)  # fmt: skip
    assert delta["delta"] is True and delta["rows"] == 3
    got = rows(delta_path)
    assert set(got) == set(changed)
    assert got["jdoe"]["title"] == "Changed jdoe"
    # that read started within a second of its mark (the changes): one may have raced
    # with it, so the next starts read_seconds + 1 before the mark and reads them again
    time.sleep(CLOCK_MARGIN + 1.2)
    again = json.loads(run_cli("explore", *common, "--since-last", "-o",
                               str(tmp_path / "again.parquet"), env=env).stdout)  # fmt: skip
    assert again["rows"] == 3 and again["high_water"] == delta["high_water"]
    # ...and that one started well after: nothing changed since, an empty delta
    last = json.loads(run_cli("explore", *common, "--since-last", "-o",
                              str(tmp_path / "last.parquet"), env=env).stdout)  # fmt: skip
    assert last["rows"] == 0 and last["high_water"] == delta["high_water"]


def test_since_last_without_an_earlier_explore_is_one_line(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    result = run_cli(
        "explore", "--url", ldap_server.url, "--base", PEOPLE, "--since-last",
        "-o", str(tmp_path / "x.parquet"), code=2,
    )  # fmt: skip
    assert result.stderr.count("\n") == 1
    assert "no earlier explore" in result.stderr and "without --since-last" in result.stderr
    assert not (tmp_path / "x.parquet").exists()


# -- compare explores for itself ---------------------------------------------------------


def compare(config: Path, out: Path, *extra: str, code: int = 1, password: str) -> dict[str, Any]:
    run_cli("compare", "-c", str(config), "-o", str(out), *extra, code=code,
            env={PW_VAR: password})  # fmt: skip
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return summary


@pytest.mark.slow
def test_explore_compare_apply_explore_compare_leaves_no_drift(
    loop_server: Slapd, tmp_path: Path
) -> None:
    config = source_config(tmp_path / "run", loop_server)
    out = tmp_path / "run" / "out"
    first = compare(config, out, password=loop_server.password)
    explored = first["run"]["explored"]["endpoint"]
    snapshot = Path(explored["path"])
    assert snapshot.parent == out / SNAPSHOTS and snapshot.exists()
    assert first["inputs"]["endpoint"]["path"] == str(snapshot)  # the report names it too
    assert explored["rows"] == 5 and explored["delta"] is False
    assert str(snapshot) in (out / "report.html").read_text(encoding="utf-8")
    assert first["situations"] | {} == {
        "linked": 2, "correlated": 1, "collision": 0, "ambiguous": 0, "unmatched": 1,
        "missing": 1, "deleted_in_repository": 1, "excluded": 0, "duplicate_key": 0,
    }  # fmt: skip

    plan_path = out / "plan.jsonl"
    plan = load_plan(plan_path)
    decide(plan, None, "approved", "change-board", "CHG-1042")
    save_plan(plan, plan_path)
    from recondiff.apply.transport import LdapTarget

    target = LdapTarget(loop_server.url, loop_server.admin_dn, loop_server.password,
                        allow_plaintext=True)  # fmt: skip
    result = apply_plan(plan_path, target, allow_mass_change=2,
                        allow={"membership_removals": 1, "modifies": 4})  # fmt: skip
    assert [o.outcome for o in result.outcomes] == ["applied"] * 7

    time.sleep(1.1)  # a snapshot name per second
    second = compare(config, out, password=loop_server.password)
    assert second["drift"]["accounts"] == 0
    assert second["situations"]["missing"] == 0 and second["situations"]["linked"] == 3
    endpoint_events = [e for e in load_plan(plan_path)["events"] if e["target"] == "endpoint"]
    assert endpoint_events == []
    # both snapshots survived the publish and the decided plan's archive
    assert (out / "decided").is_dir()
    assert [p.name for p in kept(out / SNAPSHOTS, "endpoint")] == [
        snapshot.name, Path(second["run"]["explored"]["endpoint"]["path"]).name
    ]

    # offline: the newest kept snapshot, no server, the same result
    loop_server.stop()
    offline = compare(config, out, "--offline", password="")
    assert offline["inputs"]["endpoint"]["path"] == second["inputs"]["endpoint"]["path"]
    assert offline["inputs"]["endpoint"]["sha256"] == second["inputs"]["endpoint"]["sha256"]
    for key in ("situations", "drift", "sync", "differences"):
        assert offline[key] == second[key], key
    assert "explored" not in offline["run"]
    # an older snapshot named: the first run's directory, as it was before apply
    older = compare(config, tmp_path / "audit", "--endpoint-snapshot", str(snapshot), password="")
    assert older["inputs"]["endpoint"]["sha256"] == first["inputs"]["endpoint"]["sha256"]
    assert older["situations"] == first["situations"] and older["drift"] == first["drift"]


@pytest.mark.slow
def test_compare_keeps_the_newest_snapshots_and_marks_only_after_success(
    loop_server: Slapd, tmp_path: Path
) -> None:
    config = source_config(tmp_path / "run", loop_server)  # keep_snapshots = 2
    out = tmp_path / "run" / "out"
    names = []
    for _ in range(3):
        summary = compare(config, out, "--allow-shrink", password=loop_server.password)
        names.append(Path(summary["run"]["explored"]["endpoint"]["path"]).name)
        time.sleep(1.05)
    assert [p.name for p in kept(out / SNAPSHOTS, "endpoint")] == names[1:]
    # a file of the operator's own in snapshots/ is never removed
    own = out / SNAPSHOTS / "notes.parquet"
    own.write_bytes(b"mine")
    compare(config, out, password=loop_server.password)
    assert own.read_bytes() == b"mine" and len(kept(out / SNAPSHOTS, "endpoint")) == 2


@pytest.mark.slow
def test_incremental_compare_classifies_only_changed_accounts(
    loop_server: Slapd, tmp_path: Path
) -> None:
    config = source_config(tmp_path / "run", loop_server)
    out = tmp_path / "run" / "out"
    time.sleep(CLOCK_MARGIN + 1.2)
    compare(config, out, password=loop_server.password)
    time.sleep(1.1)
    loop_server.modify(f"dn: uid=jdoe,{PEOPLE}\nchangetype: modify\nreplace: sn\nsn: Doe-Smith\n")
    delta = compare(config, out, "--since-last", password=loop_server.password)
    assert delta["run"]["incremental"] is True
    assert delta["run"]["explored"]["endpoint"]["delta"] is True
    assert delta["inputs"]["endpoint"]["rows"] == 1
    assert delta["situations"]["missing"] == 0  # never inferred from a delta
    assert delta["situations"]["linked"] == 1
    assert delta["drift"]["by_attribute"]["sn"] == 1
    since = delta["run"]["incremental_since"]
    assert since.startswith("modifyTimestamp >= ")
    assert any("not looked at" in w for w in delta["warnings"])
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "accounts unchanged since then were not looked at" in html
    # no change since: an empty delta still has the config's columns, and nothing to do
    future = compare(config, out, "--since", "2099-01-01T00:00:00Z", code=0,
                     password=loop_server.password)  # fmt: skip
    assert future["inputs"]["endpoint"]["rows"] == 0 and future["differences"] == 0
    assert future["run"]["incremental_since"] == "modifyTimestamp >= 20990101000000Z"
    # offline on the delta snapshot: still incremental (its metadata says so)
    offline = compare(config, out, "--offline", code=0, password="")  # the newest: empty
    assert offline["run"]["incremental"] is True and offline["situations"]["missing"] == 0
    assert offline["run"]["incremental_since"] == future["run"]["incremental_since"]


def test_a_failed_compare_after_exploring_does_not_move_the_mark(
    loop_server: Slapd, tmp_path: Path
) -> None:
    config = source_config(tmp_path / "run", loop_server)
    out = tmp_path / "run" / "out"
    state = tmp_path / "state"
    time.sleep(CLOCK_MARGIN + 1.2)
    compare(config, out, "--state", str(state), password=loop_server.password)
    time.sleep(1.1)
    loop_server.modify(f"dn: uid=jdoe,{PEOPLE}\nchangetype: modify\nreplace: sn\nsn: Changed\n")
    identities = tmp_path / "run" / "identities.csv"
    saved = identities.read_bytes()
    identities.write_text("id,account\n", encoding="utf-8")  # no records: the run stops
    run_cli("compare", "-c", str(config), "-o", str(out), "--state", str(state), "--since-last",
            code=2, env={PW_VAR: loop_server.password})  # fmt: skip
    identities.write_bytes(saved)
    again = compare(config, out, "--state", str(state), "--since-last",
                    password=loop_server.password)  # fmt: skip
    assert again["inputs"]["endpoint"]["rows"] == 1  # jdoe read again, not lost


# -- secrets and failures -----------------------------------------------------------------


def test_no_password_option_and_no_password_in_any_output(
    loop_server: Slapd, tmp_path: Path
) -> None:
    for command in (["explore"], ["compare"]):
        result = CliRunner().invoke(cli, [*command, "--password", "x"])
        assert result.exit_code == 2 and "no such option" in result.stderr.lower()
    config = source_config(tmp_path / "run", loop_server)
    out = tmp_path / "run" / "out"
    compare(config, out, password=loop_server.password)
    snap = tmp_path / "one.parquet"
    run_cli("explore", "-c", str(config), "-o", str(snap), env={PW_VAR: loop_server.password})
    secret = loop_server.password.encode()
    files = [p for p in out.rglob("*") if p.is_file()] + [snap]
    assert any(p.suffix == ".parquet" and p.parent.name == SNAPSHOTS for p in files)
    for path in files:
        assert secret not in path.read_bytes(), path
    meta = pq.read_schema(snap).metadata or {}
    assert all(secret not in v for v in meta.values())


def _tree(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_a_refused_bind_is_one_line_and_leaves_outdir_as_it_was(
    loop_server: Slapd, tmp_path: Path
) -> None:
    config = source_config(tmp_path / "run", loop_server)
    out = tmp_path / "run" / "out"
    compare(config, out, password=loop_server.password)
    before = _tree(out)
    result = run_cli("compare", "-c", str(config), "-o", str(out), code=2,
                     env={PW_VAR: "wrong-password"})  # fmt: skip
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("recondiff: error: ")
    assert "wrong-password" not in result.stderr
    assert _tree(out) == before
    # a first run that fails leaves no OUTDIR behind at all
    fresh = tmp_path / "fresh"
    run_cli("compare", "-c", str(config), "-o", str(fresh), code=2,
            env={PW_VAR: "wrong-password"})  # fmt: skip
    assert not fresh.exists()
    # explore: the same line, no snapshot
    snap = tmp_path / "x.parquet"
    result = run_cli("explore", "-c", str(config), "-o", str(snap), code=2,
                     env={PW_VAR: "wrong-password"})  # fmt: skip
    assert result.stderr.count("\n") == 1 and not snap.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".x.parquet")]


def test_insecure_skip_tls_verify_warns_even_when_quiet(tmp_path: Path) -> None:
    from tests.conftest import require_system
    from tests.slapd import available

    require_system("slapd (Debian packages slapd and ldap-utils)", available())
    with Slapd(tmp_path / "slapd", tls=True) as server:
        server.load(ROOT / "tests" / "data" / "ldap" / "directory.ldif")
        common = ["explore", "--url", server.ldaps_url, "--base", PEOPLE, "-q",
                  "--bind-dn", server.admin_dn, "--password-env", PW_VAR]  # fmt: skip
        env = {PW_VAR: server.password}
        refused = run_cli(*common, "-o", str(tmp_path / "a.parquet"), code=2, env=env)
        assert refused.stderr.count("\n") == 1  # an unknown CA: verification on by default
        run_cli(*common, "--ca-file", str(server.ca_file), "-o", str(tmp_path / "b.parquet"),
                env=env)  # fmt: skip
        loud = run_cli(*common, "--insecure-skip-tls-verify", "-o", str(tmp_path / "c.parquet"),
                       env=env)  # fmt: skip
        assert "verification is OFF" in loud.stderr


def test_a_symlinked_snapshots_folder_is_refused(loop_server: Slapd, tmp_path: Path) -> None:
    config = source_config(tmp_path / "run", loop_server)
    out = tmp_path / "run" / "out"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = elsewhere / "endpoint-20200101T000000Z.parquet"  # a name compare would prune
    victim.write_bytes(b"not ours")
    out.mkdir()
    (out / SNAPSHOTS).symlink_to(elsewhere)
    result = run_cli("compare", "-c", str(config), "-o", str(out), code=2,
                     env={PW_VAR: loop_server.password})  # fmt: skip
    assert "symbolic link" in result.stderr and result.stderr.count("\n") == 1
    assert victim.read_bytes() == b"not ours" and os.listdir(elsewhere) == [victim.name]


def test_incremental_options_need_a_source(tmp_path: Path) -> None:
    shutil.copy(LOOP / "recondiff.toml", tmp_path / "recondiff.toml")
    for option in ("--since-last", "--offline"):
        result = run_cli("compare", "-c", str(tmp_path / "recondiff.toml"), "-o",
                         str(tmp_path / "out"), option, code=2)  # fmt: skip
        assert result.stderr.count("\n") == 1 and "[endpoint.source]" in result.stderr
    assert not (tmp_path / "out").exists()


# -- the high-water marks (no server: the rules themselves) ---------------------------------


def test_next_start_after_the_mark_only_when_the_read_began_a_margin_later() -> None:
    from datetime import UTC, datetime, timedelta

    from recondiff.explore.state import next_start

    mark = datetime(2026, 12, 7, 6, 0, 5, tzinfo=UTC)
    quiet = mark + timedelta(seconds=1 + CLOCK_MARGIN)
    assert next_start(mark, quiet, 30.0) == mark + timedelta(seconds=1)
    # the read began within the mark's second (+ margin): a change may have raced it
    assert next_start(mark, quiet - timedelta(seconds=0.5), 30.0) == mark - timedelta(seconds=31)
    assert next_start(mark, mark, 0.2) == mark - timedelta(seconds=2)


def test_marks_and_times_as_directories_write_them() -> None:
    from datetime import UTC, datetime

    from recondiff.explore.state import USN, generalized_time, newer_mark, parse_time

    when = datetime(2026, 12, 7, 6, 0, 5, tzinfo=UTC)
    assert parse_time("20261207060005Z") == when
    assert parse_time("20261207060005.123Z") == when.replace(microsecond=123000)
    assert parse_time("20261207080005+0200") == when
    assert parse_time("2026-12-07T06:00:05Z") == when
    assert parse_time("not a time") is None and parse_time("20261399000000Z") is None
    assert generalized_time(when) == "20261207060005Z"
    assert newer_mark("modifyTimestamp", "20261207060005Z", None) == "20261207060005Z"
    assert newer_mark("modifyTimestamp", "20261207060005Z", "20261207060004Z") == "20261207060005Z"
    assert newer_mark("modifyTimestamp", None, "20261207060004Z") == "20261207060004Z"
    assert newer_mark(USN, "99", "100") == "100" and newer_mark(USN, "100", "99") == "100"


def test_active_directory_reads_changes_by_usn_and_when_changed(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from recondiff.config.source import SourceConfig
    from recondiff.explore.state import ExploreRecord, since_last, since_time
    from recondiff.history import History

    source = SourceConfig(kind="ldap", url="ldaps://dc1.example.org", where="test",
                          base="DC=example,DC=org")  # fmt: skip
    history = History(tmp_path / "history.duckdb")
    with pytest.raises(Exception, match="no earlier explore"):
        since_last(history, source, True, "test")
    ExploreRecord(source, "uSNChanged", datetime.now(UTC), 1.0, "4711", None, 10,
                  tmp_path / "x.parquet").record(history)  # fmt: skip
    lower = since_last(history, source, True, "test")
    assert (lower.attribute, lower.value, lower.mark) == ("uSNChanged", "4712", "4711")
    # another filter is another source, with no mark of its own
    other = SourceConfig(kind="ldap", url="ldaps://dc1.example.org", where="test",
                         base="DC=example,DC=org", filter="(objectClass=user)")  # fmt: skip
    with pytest.raises(Exception, match="no earlier explore"):
        since_last(history, other, True, "test")
    t = since_time(datetime(2026, 12, 1, tzinfo=UTC), True)
    assert (t.attribute, t.value) == ("whenChanged", "20261201000000Z")
    assert since_time(datetime(2026, 12, 1, tzinfo=UTC), False).attribute == "modifyTimestamp"


def test_an_ad_config_asks_for_the_guid_and_account_control(tmp_path: Path) -> None:
    text = (LOOP / "recondiff.toml").read_text(encoding="utf-8")
    text = text.replace('kind = "openldap"\n', 'kind = "ad"\n').replace(
        'create_object_class = ["inetOrgPerson"]\n', 'create_object_class = ["user"]\n'
    )
    (tmp_path / "recondiff.toml").write_text(text, encoding="utf-8")
    needed = needed_attributes(load_config(tmp_path / "recondiff.toml"), "endpoint")
    assert {"objectGUID", "userAccountControl", "uid", "memberOf", "adminCount"} <= set(needed)
    assert "msDS-User-Account-Control-Computed" in needed  # AD's lockout bit lives there
    (tmp_path / "recondiff.toml").write_text(
        text.replace('kind = "ad"\n', 'kind = "ad"\nprivileged_alerts = false\n'), encoding="utf-8"
    )
    needed = needed_attributes(load_config(tmp_path / "recondiff.toml"), "endpoint")
    assert "adminCount" not in needed  # read only for the alerts


def test_a_recorded_mark_later_than_its_explore_is_clamped_with_a_warning(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A mark from the future (recorded by an older version, or a clock gone wrong)
    would hide every change until then: the next read starts where that explore
    began, the mark it hands on is that time, and one warning line says so."""
    from datetime import UTC, datetime, timedelta

    from recondiff.config.source import SourceConfig
    from recondiff.explore.state import ExploreRecord, next_start, since_last
    from recondiff.history import History

    source = SourceConfig(kind="ldap", url="ldap://dir.example.org", where="test",
                          base="o=x")  # fmt: skip
    began = datetime(2026, 12, 7, 6, 0, 5, tzinfo=UTC)
    for mark in ("20991231235959Z", "99991231235959Z"):
        history = History(tmp_path / f"{mark}.duckdb")
        ExploreRecord(source, "modifyTimestamp", began, 3.0, mark, None, 10,
                      tmp_path / "x.parquet").record(history)  # fmt: skip
        lower = since_last(history, source, False, "test")
        assert (lower.value, lower.mark) == ("20261207060001Z", "20261207060005Z")
        err = capfd.readouterr().err
        assert err.count("\n") == 1 and f"high-water mark {mark}" in err
    # a mark within the read (and the margin) is taken as it is
    history = History(tmp_path / "history.duckdb")
    ExploreRecord(source, "modifyTimestamp", began, 3.0, "20261207060009Z", None, 10,
                  tmp_path / "x.parquet").record(history)  # fmt: skip
    assert since_last(history, source, False, "test").mark == "20261207060009Z"
    assert capfd.readouterr().err == ""
    end = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)  # never an OverflowError
    assert next_start(end, end, 1.0) == end - timedelta(seconds=2)


def test_only_files_recondiff_wrote_count_as_kept_snapshots(tmp_path: Path) -> None:
    """An empty name another run has claimed, a file of another kind: neither is
    taken by --offline nor removed by pruning."""
    from recondiff.explore.sources import kept, prune

    folder = tmp_path / "snapshots"
    folder.mkdir()
    ours = folder / "endpoint-20261201T000000Z.parquet"
    pq.write_table(pa.table({"dn": ["cn=a"]}).replace_schema_metadata(
        {"recondiff.format": "ldap"}), ours)  # fmt: skip
    claimed = folder / "endpoint-20261202T000000Z.parquet"
    claimed.touch()
    theirs = folder / "endpoint-20261203T000000Z.parquet"
    pq.write_table(pa.table({"dn": ["cn=b"]}), theirs)
    assert kept(folder, "endpoint") == [ours]
    prune(folder, "endpoint", 0)
    assert sorted(p.name for p in folder.iterdir()) == [claimed.name, theirs.name]
