"""Guards of `apply` and `plan ldif` against a real slapd (issue 14, items 8-13).

Protection is enforced on what is sent (decoded DNs, the member DN a
membership change sends, the config in force), every mass change is counted,
a disable by attribute keeps values it did not plan to change, a replaced
entry (same DN, new entryUUID) is stale, an in-flight membership resumed after
a crash checks the member's memberOf too, and a password never goes out in
clear text unless asked.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from recondiff.apply.transport import LdapError, LdapTarget
from recondiff.compare import compare
from recondiff.config.load import load_config
from recondiff.errors import ConfigError
from recondiff.plan.checks import SafetyError, first_rdn_values, mass_counts, match_form
from recondiff.plan.file import load_plan
from tests.plans import apply_unsigned as apply_plan
from tests.slapd import Slapd, ldap_server
from tests.test_apply import (
    ADMIN,
    ASMITH,
    BASE,
    CONFIG,
    JDOE,
    STAFF,
    change,
    event,
    modify_title,
    run_cli,
    target,
    write_config,
    write_plan,
)

__all__ = ["ldap_server"]

LDAPSEARCH = shutil.which("ldapsearch")
PEOPLE = f"ou=people,{BASE}"


def export(server: Slapd, out: Path, search_filter: str = "(objectClass=inetOrgPerson)") -> None:
    """ldapsearch as an operator runs it, with memberOf and entryUUID (operational)."""
    if LDAPSEARCH is None:
        pytest.skip("ldapsearch (ldap-utils) is not installed")
    result = subprocess.run(
        [LDAPSEARCH, "-LLL", "-x", "-o", "ldif-wrap=no", "-H", server.url, "-D", server.admin_dn,
         "-y", str(server.password_file), "-b", PEOPLE, search_filter,
         "*", "memberOf", "entryUUID"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    out.write_text(result.stdout, encoding="utf-8")


# -- 8. protection on what is sent ------------------------------------------------------


def test_dn_values_are_decoded_as_the_server_reads_them() -> None:
    administrator = ["administrator"]
    for dn in (
        f"uid=administrator,{PEOPLE}",
        f"uid=\\61dministrator,{PEOPLE}",  # RFC 4514 hex escape
        f"UID = ADMINISTRATOR ,{PEOPLE}",  # case and spaces around the value
        f"uid=#040d61646d696e6973747261746f72,{PEOPLE}",  # BER-encoded value
        f'uid="administrator",{PEOPLE}',  # RFC 1779 quoting
        f"uid=administrator;{PEOPLE}",  # ; as the RDN separator (LDAPv2)
        f"uid=\\41\\44MINISTRATOR,{PEOPLE}",
        f"uid=ａｄｍｉｎｉｓｔｒａｔｏｒ,{PEOPLE}",  # fullwidth: NFKC
        f"uid=admin\u200bistrator,{PEOPLE}",  # zero-width space
    ):
        assert [match_form(v) for v in first_rdn_values(dn)] == administrator, dn
    assert first_rdn_values(f"cn=x+uid=administrator,{PEOPLE}") == ["x", "administrator"]
    assert first_rdn_values(f"uid=admin\\,x,{PEOPLE}") == ["admin,x"]
    assert first_rdn_values("uid=\\ lead\\ ,dc=x") == [" lead "]
    assert first_rdn_values("cn=\\c3\\a9,dc=x") == ["é"]
    assert first_rdn_values(None) == []


def test_escaped_and_relabelled_protected_targets_are_refused(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """Each of these reaches uid=administrator on slapd; the old check compared the
    raw spelling of the first RDN and the event's member label, and sent them."""
    escaped = modify_title(f"uid=\\61dministrator,{PEOPLE}", "x", "pwned", key="jdoe")
    escaped["changes"] = [change("add", "title", "pwned")]
    escaped["preconditions"] = []
    ber = event("modify", f"uid=#040d61646d696e6973747261746f72,{PEOPLE}",
                [change("add", "description", "pwned")], key="jdoe")  # fmt: skip
    spaced = event("modify", f"UID = Administrator ,{PEOPLE}",
                   [change("add", "description", "pwned")], key="jdoe")  # fmt: skip
    # The label says jdoe; the value sent is the administrator's DN, escaped.
    relabelled = event(
        "modify", STAFF, [change("add", "member", f"uid=\\61dministrator,{PEOPLE}")],
        key="staff", member_of={"key": "jdoe", "dn": JDOE},
    )  # fmt: skip
    fine = modify_title(JDOE, "Engineer", "Lead Engineer")
    plan = write_plan(tmp_path / "plan.jsonl", [escaped, ber, spaced, relabelled, fine])
    result = apply_plan(plan, target(ldap_server))
    assert [o.outcome for o in result.outcomes] == ["failed"] * 4 + ["applied"]
    for outcome in result.outcomes[:4]:
        assert outcome.message.endswith(
            "is a protected account ([endpoint] protected); recondiff never changes it"
        ), outcome.message
    admin = ldap_server.entry(ADMIN)
    assert admin is not None and "title" not in admin and "description" not in admin
    assert ADMIN not in ldap_server.values(STAFF, "member")


def test_the_config_in_force_protects_and_limits_too(ldap_server: Slapd, tmp_path: Path) -> None:
    """A plan whose protected list was emptied (or written before a key was
    protected) still cannot touch what the config in force protects; its limits
    are the stricter of plan and config."""
    admin_title = event("modify", ADMIN, [change("add", "title", "x")], key="administrator")
    plan = write_plan(tmp_path / "plan.jsonl", [admin_title], protected=())
    config = load_config(write_config(tmp_path))  # protects Administrator
    result = apply_plan(plan, target(ldap_server), config=config)
    assert [(o.outcome, o.message) for o in result.outcomes] == [(
        "failed",
        "administrator is a protected account ([endpoint] protected); recondiff never changes it",
    )]  # fmt: skip
    assert "title" not in (ldap_server.entry(ADMIN) or {})

    titles = [modify_title(JDOE, "Engineer", "A"), modify_title(ASMITH, "Analyst", "B")]
    plan = write_plan(tmp_path / "p2.json", titles)  # the plan allows 500 modifies
    (tmp_path / "strict").mkdir()
    strict = load_config(write_config(tmp_path / "strict", "max_modifies = 1\n"))
    with pytest.raises(SafetyError) as caught:
        apply_plan(plan, target(ldap_server), config=strict)
    assert str(caught.value) == (
        f"{plan}: the plan sends 2 modifies (2.0% of the endpoint's 100 rows), over its "
        f"safety limits (max_modifies 1 in {strict.path}, max_modify_percent 25); review "
        "the plan, then allow it with --allow-modifies 2"
    )
    assert ldap_server.values(JDOE, "title") == ["Engineer"]
    result = apply_plan(plan, target(ldap_server), config=strict, allow={"modifies": 2})
    assert [o.outcome for o in result.outcomes] == ["applied", "applied"]

    other = tmp_path / "other"
    other.mkdir()
    path = write_config(other)
    path.write_text(path.read_text().replace('"test-ldap"', '"corp-ad"'))
    with pytest.raises(ConfigError, match="name 'corp-ad' is not the plan's endpoint 'test-ldap'"):
        apply_plan(plan, target(ldap_server), config=load_config(path))


def test_cli_apply_without_config_reads_the_one_the_plan_names(
    ldap_server: Slapd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --config (the command line of the design contract, kept working),
    the config in force is the file the plan names, as it reads now: its protected
    keys are enforced even when the plan's list was emptied; when that file is not
    there, one line asks for --config and nothing is sent."""
    monkeypatch.chdir(tmp_path)
    plan = write_plan(tmp_path / "plan.jsonl", [modify_title(JDOE, "Engineer", "Lead")],
                      protected=())  # fmt: skip
    base = ["apply", str(plan), "--url", ldap_server.url, "--bind-dn", ldap_server.admin_dn,
            "--password-env", "RD_PW", "--allow-plaintext"]  # fmt: skip
    env = {"RD_PW": ldap_server.password}
    code, out, err = run_cli(*base, env=env)
    assert (code, out) == (2, "")
    assert err == (
        "recondiff: error: the plan was made from the config recondiff.toml, which is not "
        "here; pass the config in force with --config recondiff.toml (its protected keys and "
        "mass-change limits are enforced with the plan's)\n"
    )
    write_config(tmp_path).write_text(
        CONFIG.replace('protected = ["Administrator", "krbtgt"]', 'protected = ["jdoe"]'),
        encoding="utf-8",
    )
    code, out, err = run_cli(*base, env=env)
    assert code == 1, err
    assert "\tfailed\t" in out and "protected" in out
    assert ldap_server.values(JDOE, "title") == ["Engineer"]


# -- 9. every mass change is guarded ---------------------------------------------------


SCENARIO_CONFIG = """\
[endpoint]
name = "corp-ldap"
snapshot = "export.ldif"
key = "uid"
kind = "openldap"

[repository]
snapshot = "identities.csv"
key = "id"
link = "account"
multi_valued = ["groups"]

[[attribute]]
endpoint = "title"
repository = "title"
compare = "casefold_trim"
on_drift = "update_endpoint"

[[attribute]]
endpoint = "memberOf"
repository = "groups"
compare = "dn_set"
membership = "member"
on_drift = "update_endpoint"
"""

ALL = f"cn=all,ou=groups,{BASE}"


def _two_hundred(server: Slapd, run: Path) -> None:
    """200 linked accounts in group 'all'; the identity export has a blank title
    and blank groups for 180 of them (a column lost in an export job)."""
    people = [
        f"dn: uid=user{i:03},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: user{i:03}\n"
        f"cn: User {i}\nsn: User\ntitle: Engineer\n"
        for i in range(200)
    ]
    group = f"dn: {ALL}\nobjectClass: groupOfNames\ncn: all\n" + "".join(
        f"member: uid=user{i:03},{PEOPLE}\n" for i in range(200)
    )
    server.load("\n".join([*people, group]))
    run.mkdir()
    export(server, run / "export.ldif", "(uid=user*)")
    rows = ["id,account,title,groups"] + [
        f'{1000 + i},user{i:03},Engineer,"{ALL}"' if i < 20 else f"{1000 + i},user{i:03},,"
        for i in range(200)
    ]
    (run / "identities.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (run / "recondiff.toml").write_text(SCENARIO_CONFIG, encoding="utf-8")


def test_a_blank_column_cannot_wipe_the_directory(ldap_server: Slapd, tmp_path: Path) -> None:
    """Issue 14's scenario: 360 automatic edits (180 of 200 titles, memberships
    200 -> 20) ran with no prompt, as only deletes and disables were counted."""
    run = tmp_path / "run"
    _two_hundred(ldap_server, run)
    compare(run / "recondiff.toml", run / "out")
    plan_path = run / "out" / "plan.jsonl"
    plan = load_plan(plan_path)
    assert mass_counts(plan) == {
        "deletes": 0, "value_removals": 180, "membership_removals": 180, "modifies": 360,
    }  # fmt: skip
    assert plan["safety"]["max_value_removals"] == 50
    expected = [
        f"{plan_path}: the plan removes attribute values from 180 accounts (90.0% of the "
        "endpoint's 200 rows), over its safety limits (max_value_removals 50, "
        "max_value_removal_percent 5); review the plan, then allow it with "
        "--allow-value-removals 180",
        f"{plan_path}: the plan removes 180 group memberships (90.0% of the endpoint's 200 "
        "rows), over its safety limits (max_membership_removals 50, "
        "max_membership_removal_percent 5); review the plan, then allow it with "
        "--allow-membership-removals 180",
        f"{plan_path}: the plan sends 360 modifies (180.0% of the endpoint's 200 rows), over "
        "its safety limits (max_modifies 500, max_modify_percent 25); review the plan, then "
        "allow it with --allow-modifies 360",
    ]
    base = ["apply", str(plan_path), "--config", str(run / "recondiff.toml"), "--url",
            ldap_server.url, "--bind-dn", ldap_server.admin_dn, "--password-env", "RD_PW",
            "--allow-plaintext"]  # fmt: skip
    env = {"RD_PW": ldap_server.password}
    code, out, err = run_cli(*base, env=env)
    assert (code, out) == (2, "")
    assert err.splitlines() == [f"recondiff: error: {line}" for line in expected]
    assert ldap_server.values(f"uid=user199,{PEOPLE}", "title") == ["Engineer"]
    assert len(ldap_server.values(ALL, "member")) == 200

    # plan ldif: the same limits, the same flags
    ldif = tmp_path / "changes.ldif"
    code, out, err = run_cli("plan", "ldif", str(plan_path), "-o", str(ldif))
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "recondiff: error: " + line.replace(str(plan_path), f"plan {plan['plan_id']}")
        for line in expected
    ]
    assert not ldif.exists()
    # one flag short: only that limit is left
    flags = ["--allow-value-removals", "180", "--allow-membership-removals", "180"]
    code, _, err = run_cli("plan", "ldif", str(plan_path), "-o", str(ldif), *flags)
    assert code == 2 and err.splitlines() == [
        "recondiff: error: " + expected[2].replace(str(plan_path), f"plan {plan['plan_id']}")
    ]
    code, _, err = run_cli("plan", "ldif", str(plan_path), "-o", str(ldif), *flags,
                           "--allow-modifies", "360")  # fmt: skip
    assert code == 0, err
    assert ldif.read_text().count("\ndn: ") == 360

    # Accepted on purpose, every flag given: it runs.
    code, out, err = run_cli(*base, *flags, "--allow-modifies", "360", "-q", env=env)
    assert code == 0, err
    assert out.count("\tapplied\t") == 360
    assert ldap_server.values(f"uid=user199,{PEOPLE}", "title") == []
    assert len(ldap_server.values(ALL, "member")) == 20


def test_limits_of_plan_keys_are_checked_in_the_config(tmp_path: Path) -> None:
    path = write_config(tmp_path, "max_modify_percent = 120\n")
    with pytest.raises(ConfigError, match=r"\[plan\] max_modify_percent.*0 to 100"):
        load_config(path)
    path = write_config(tmp_path, "max_membership_removals = -1\n")
    with pytest.raises(ConfigError, match=r"\[plan\] max_membership_removals"):
        load_config(path)


# -- 13. plaintext binds ---------------------------------------------------------------


def test_plaintext_bind_is_refused_unless_allowed(ldap_server: Slapd, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.jsonl", [modify_title(JDOE, "Engineer", "Lead")])
    plain = LdapTarget(ldap_server.url, ldap_server.admin_dn, ldap_server.password)
    with pytest.raises(LdapError) as caught:
        apply_plan(plan, plain)
    assert str(caught.value) == (
        f"{ldap_server.url}: refusing to send the bind password unencrypted over ldap://; "
        "add --starttls or use ldaps://, or accept that anyone on the network path can "
        "read it with --allow-plaintext"
    )
    with pytest.raises(LdapError, match="refusing to send the bind password"):
        apply_plan(plan, plain, dry_run=True)
    assert ldap_server.values(JDOE, "title") == ["Engineer"]
    # the test server speaks plain LDAP: accepted when named
    result = apply_plan(plan, target(ldap_server))
    assert [o.outcome for o in result.outcomes] == ["applied"]


def test_cli_plaintext_is_one_line_exit_2(ldap_server: Slapd, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.jsonl", [modify_title(JDOE, "Engineer", "Lead")])
    code, out, err = run_cli("apply", str(plan), "--config", str(write_config(tmp_path)),
                             "--url", ldap_server.url, "--bind-dn", ldap_server.admin_dn,
                             "--password-env", "RD_PW", env={"RD_PW": ldap_server.password})  # fmt: skip
    assert (code, out) == (2, "")
    assert err.startswith("recondiff: error: ldap://127.0.0.1:")
    assert err.endswith("read it with --allow-plaintext\n")
    assert err.count("\n") == 1
    assert ldap_server.password not in err
    assert ldap_server.values(JDOE, "title") == ["Engineer"]


# -- 10 and 11: the planner's events on the fixture directory ------------------------------


SMALL_CONFIG = """\
[endpoint]
name = "corp-ldap"
snapshot = "export.ldif"
key = "uid"
kind = "openldap"

[endpoint.disable]
method = "attribute"
attribute = "employeeType"
value = "disabled"

[repository]
snapshot = "identities.csv"
key = "id"
link = "account"
status = "status"
multi_valued = ["groups"]

[[attribute]]
endpoint = "title"
repository = "title"
on_drift = "update_endpoint"

[[attribute]]
endpoint = "memberOf"
repository = "groups"
compare = "dn_set"
membership = "member"
on_drift = "update_endpoint"

[situations]
deleted_in_repository = "disable_in_endpoint"

[plan]  # five accounts: every change is a large share
max_delete_percent = 100
max_modify_percent = 100
max_value_removal_percent = 100
max_membership_removal_percent = 100
"""

VPN_DN = f"cn=vpn,ou=groups,{BASE}"
BWONG_DN = f"uid=bwong,{PEOPLE}"

IDENTITIES = f"""\
id,account,title,groups,status
1,jdoe,Lead Engineer,"{STAFF};{VPN_DN}",active
2,asmith,Analyst,"{STAFF};{VPN_DN}",terminated
3,bwong,Designer,"{STAFF}",active
4,cdavis,Intern,"{VPN_DN}",active
5,administrator,,,active
"""


def _planned(server: Slapd, run: Path, attributes: tuple[str, ...] = ("entryUUID",)) -> Path:
    """Export the fixture directory, compare: jdoe's title changes, asmith is
    disabled (employeeType), bwong joins staff. Returns the plan."""
    run.mkdir()
    export(server, run / "export.ldif")
    if "entryUUID" not in attributes:
        text = (run / "export.ldif").read_text(encoding="utf-8")
        kept = [line for line in text.splitlines() if not line.startswith("entryUUID:")]
        (run / "export.ldif").write_text("\n".join(kept) + "\n", encoding="utf-8")
    (run / "identities.csv").write_text(IDENTITIES, encoding="utf-8")
    (run / "recondiff.toml").write_text(SMALL_CONFIG, encoding="utf-8")
    compare(run / "recondiff.toml", run / "out")
    return run / "out" / "plan.jsonl"


def _by_key(plan: dict[str, object]) -> dict[str, dict[str, object]]:
    events: list[dict[str, object]] = plan["events"]  # type: ignore[assignment]
    found: dict[str, dict[str, object]] = {}
    for item in events:
        obj: dict[str, object] = item["object"]  # type: ignore[assignment]
        member: dict[str, object] = obj.get("member_of") or {}  # type: ignore[assignment]
        found[f"{item['operation']} {obj['key'] or member.get('key')}"] = item
    return found


def test_disable_by_attribute_keeps_a_value_added_since_the_export(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    plan_path = _planned(ldap_server, tmp_path / "run")
    disable = _by_key(load_plan(plan_path))["disable asmith"]
    assert disable["changes"] == [
        {"op": "delete", "attribute": "employeeType", "values": ["active"]},
        {"op": "add", "attribute": "employeeType", "values": ["disabled"]},
    ]
    # After the export, someone adds a value the plan never saw.
    ldap_server.modify(
        f"dn: {ASMITH}\nchangetype: modify\nadd: employeeType\nemployeeType: contractor\n-\n"
    )
    result = apply_plan(plan_path, target(ldap_server))
    assert {o.event_id: o.outcome for o in result.outcomes}[str(disable["id"])] == "applied"
    assert sorted(ldap_server.values(ASMITH, "employeeType")) == ["contractor", "disabled"]


def test_a_replaced_entry_is_stale(ldap_server: Slapd, tmp_path: Path) -> None:
    """jdoe and bwong are deleted and re-created under the same DN between plan
    and apply (another person, same uid): nothing of the plan reaches them."""
    plan_path = _planned(ldap_server, tmp_path / "run")
    plan = load_plan(plan_path)
    assert plan["endpoint"]["uuid_attribute"] == "entryUUID"
    events = _by_key(plan)
    jdoe_uuid = ldap_server.values(JDOE, "entryUUID")
    title = events["modify jdoe"]
    assert title["preconditions"][0] == {"attribute": "entryUUID", "values": jdoe_uuid}
    join = events["modify bwong"]
    assert join["object"]["member_of"] == {  # type: ignore[index]
        "dn": BWONG_DN, "key": "bwong", "uuid": ldap_server.values(BWONG_DN, "entryUUID")[0],
    }  # fmt: skip
    assert events["disable asmith"]["preconditions"][0]["attribute"] == "entryUUID"  # type: ignore[index]
    from recondiff.plan.ldif_export import plan_to_ldif

    ldif = plan_to_ldif(plan)  # the member's identity cannot be asserted by ldapmodify: said
    assert (
        f"# not checked (membership): member {BWONG_DN} is {join['object']['member_of']['uuid']}"
        in ldif
    )  # type: ignore[index]

    for dn, uid, name in ((JDOE, "jdoe", "John Doe"), (BWONG_DN, "bwong", "Bo Wong")):
        ldap_server.modify(f"dn: {dn}\nchangetype: delete\n")
        ldap_server.load(
            f"dn: {dn}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {name}\nsn: X\n"
            f"title: {'Engineer' if uid == 'jdoe' else 'Designer'}\nemployeeType: active\n"
        )
    dry = apply_plan(plan_path, target(ldap_server), dry_run=True)
    dry_by_id = {o.event_id: o for o in dry.outcomes}
    assert dry_by_id[str(title["id"])].outcome == "would_be_stale"
    assert dry_by_id[str(join["id"])].outcome == "would_be_stale"

    result = apply_plan(plan_path, target(ldap_server))
    by_id = {o.event_id: o for o in result.outcomes}
    stale = by_id[str(title["id"])]
    assert (stale.outcome, stale.result) == ("stale", 122)
    assert "the entry at this DN is not the one exported (entryUUID differs" in stale.message
    joined = by_id[str(join["id"])]
    assert (joined.outcome, joined.result) == ("stale", 122)
    assert f"the member {BWONG_DN} is not the entry exported" in joined.message
    assert by_id[str(events["disable asmith"]["id"])].outcome == "applied"  # not replaced
    assert ldap_server.values(JDOE, "title") == ["Engineer"]
    assert ldap_server.values(BWONG_DN, "memberOf") == []
    assert BWONG_DN not in ldap_server.values(STAFF, "member")


def test_plan_show_says_when_the_export_has_no_entry_uuid(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    with_uuid = _planned(ldap_server, tmp_path / "with")
    without = _planned(ldap_server, tmp_path / "without", attributes=())
    assert load_plan(without)["endpoint"]["uuid_attribute"] is None
    assert all(
        p["attribute"] != "entryUUID"
        for e in load_plan(without)["events"]
        for p in e["preconditions"]
    )
    code, out, _ = run_cli("plan", "show", str(without))
    assert code == 0
    assert (
        "identity    none: the endpoint export has no entryUUID or objectGUID column, so "
        "apply cannot tell an entry deleted and re-created under the same DN from the one "
        "planned; export it (ldapsearch ... '*' entryUUID, or objectGUID on AD)"
    ) in out.splitlines()
    code, out, _ = run_cli("plan", "show", str(with_uuid))
    assert "identity    entryUUID asserted on every event of an existing entry" in out.splitlines()


def test_object_guid_is_asserted_as_ad_stores_it() -> None:
    """AD's objectGUID is 16 bytes; exports hold it as a GUID string (Get-ADUser) or
    base64 (ldifde): either becomes the escaped bytes a filter needs."""
    from recondiff.plan.assertions import assertion_filter

    stored = "\\e0\\04\\25\\3f\\89\\4f\\d3\\11\\9a\\0c\\03\\05\\e8\\2c\\33\\01"
    for value in (
        "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}",
        "4AQlP4lP0xGaDAMF6CwzAQ==",
    ):
        assert assertion_filter([{"attribute": "objectGUID", "values": [value]}]) == (
            f"(objectGUID={stored})"
        ), value
    assert assertion_filter([{"attribute": "objectGUID", "values": ["odd"]}]) == "(objectGUID=odd)"


# -- 12. membership resume checks both sides -----------------------------------------------


def _group_updated_memberof_lost(server: Slapd, ldif: str) -> None:
    """The state a server hang or crash leaves between a group's update and the
    memberof overlay's update of the member: the group changed, memberOf did not.
    Made by running the change with the overlay switched off (module still loaded,
    so memberOf stays defined), then switching it back on."""
    conf = server.conf.read_text(encoding="utf-8")
    server.stop()
    server.conf.write_text(
        conf.replace("overlay memberof\nmemberof-refint TRUE\n", ""), encoding="utf-8"
    )
    server.start()
    try:
        server.modify(ldif)
    finally:
        server.stop()
        server.conf.write_text(conf, encoding="utf-8")
        server.start()


def _started(plan_path: Path, event_id: str) -> None:
    """The journal as a run killed after sending ``event_id`` leaves it."""
    from recondiff.apply.journal import Journal, default_journal

    plan = load_plan(plan_path)
    journal = Journal(default_journal(plan_path), plan["plan_id"], plan["digest"])
    journal.open()
    journal.record(event_id, "started", None, "sent")
    journal.close()


def test_resumed_membership_with_a_lost_memberof_is_in_doubt(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    from recondiff.apply.journal import default_journal
    from tests.test_apply import BWONG, journal_lines, membership

    join = membership("add", STAFF, BWONG)
    leave = membership("delete", f"cn=vpn,ou=groups,{BASE}", JDOE)
    plan_path = write_plan(tmp_path / "plan.jsonl", [join, leave])
    _group_updated_memberof_lost(
        ldap_server,
        f"dn: {STAFF}\nchangetype: modify\nadd: member\nmember: {BWONG}\n-\n\n"
        f"dn: cn=vpn,ou=groups,{BASE}\nchangetype: modify\ndelete: member\nmember: {JDOE}\n-\n",
    )
    assert BWONG in ldap_server.values(STAFF, "member")
    assert ldap_server.values(BWONG, "memberOf") == []  # the back-link was lost
    assert f"cn=vpn,ou=groups,{BASE}" in ldap_server.values(JDOE, "memberOf")
    _started(plan_path, join["id"])
    _started(plan_path, leave["id"])

    result = apply_plan(plan_path, target(ldap_server))
    assert [o.outcome for o in result.outcomes] == ["in_doubt", "in_doubt"]
    assert result.exit_code == 1
    assert f"but {BWONG}'s memberOf does not list it" in result.outcomes[0].message
    assert f"but {JDOE}'s memberOf still lists it" in result.outcomes[1].message
    lines = journal_lines(default_journal(plan_path))
    assert [line["outcome"] for line in lines[-2:]] == ["in_doubt", "in_doubt"]
    # final: a re-run reports it and sends nothing
    again = apply_plan(plan_path, target(ldap_server))
    assert [(o.outcome, o.previous) for o in again.outcomes] == [("in_doubt", True)] * 2
    assert len(journal_lines(default_journal(plan_path))) == len(lines)


def test_resumed_membership_with_both_sides_done_is_applied(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    from tests.test_apply import BWONG, membership

    join = membership("add", STAFF, BWONG)
    plan_path = write_plan(tmp_path / "plan.jsonl", [join])
    ldap_server.modify(f"dn: {STAFF}\nchangetype: modify\nadd: member\nmember: {BWONG}\n-\n")
    assert ldap_server.values(BWONG, "memberOf") == [STAFF]
    _started(plan_path, join["id"])
    result = apply_plan(plan_path, target(ldap_server))
    assert [o.outcome for o in result.outcomes] == ["applied"]
    assert "already on the server" in result.outcomes[0].message


def test_extended_dns_and_blank_replacements_do_not_slip_through(tmp_path: Path) -> None:
    """AD accepts <GUID=...> and <SID=...> as DNs: they name an entry (the
    Administrator's, say) without its name, so no protected key can be
    recognised: refused. A value replaced by a blank is a removal."""
    from recondiff.plan.checks import refusal

    guid = "<GUID=3f2504e0-4f89-11d3-9a0c-0305e82c3301>"
    by_guid = event("modify", guid, [change("add", "title", "x")], key="jdoe")
    member_by_sid = event(
        "modify", STAFF, [change("add", "member", "<SID=S-1-5-21-1-2-3-500>")],
        key="staff", member_of={"key": "jdoe", "dn": JDOE},
    )  # fmt: skip
    plan = load_plan(write_plan(tmp_path / "plan.jsonl", [by_guid, member_by_sid]))
    assert (refusal(plan, by_guid) or "").startswith(f"{guid} is in AD's extended DN form")
    assert (refusal(plan, member_by_sid) or "").startswith("<SID=S-1-5-21-1-2-3-500> is in AD's")

    blanked = event("modify", JDOE, [change("replace", "title", " ")])
    kept = event("modify", ASMITH, [change("replace", "title", "Lead")])
    counts = mass_counts(load_plan(write_plan(tmp_path / "p2.json", [blanked, kept])))
    assert (counts["value_removals"], counts["modifies"]) == (1, 2)
