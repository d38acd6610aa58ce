"""Signed plans and decisions attacked (recondiff/plan/trust.py, docs/signing.md):
the forgery of issue 16 (an event added by hand that puts a user in a group,
the plan re-sealed), keys of the wrong role, a decision signed by one and made
by another, trust taken from the config the plan names, --allow-unsigned with a
bad signature, --decisions-head, and the order of the checks: whatever fails,
nothing is written (no LDIF file, no journal, no LDAP change).

Most checks run `plan ldif` or the library (no LDAP); two run apply against slapd."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from recondiff import review
from recondiff.apply.journal import default_journal
from recondiff.apply.runner import apply_plan
from recondiff.cli.keys import trust_entry
from recondiff.cli.main import cli
from recondiff.errors import InputError
from recondiff.io.signing import DECISION_PURPOSE, PLAN_PURPOSE, Signer, Trust, trusted_key
from recondiff.plan import ledger
from recondiff.plan.file import canonical, digest_of, dumps, load_plan, read_header, save_plan
from recondiff.plan.trust import load_verified
from tests.slapd import Slapd, ldap_server
from tests.test_apply import (
    ASMITH,
    BWONG,
    CDAVIS,
    JDOE,
    STAFF,
    VPN,
    make_plan,
    membership,
    modify_title,
    target,
)

__all__ = ["ldap_server"]

KEYS: dict[str, Signer] = {}


def key(name: str) -> Signer:
    """One key per name for the whole module (generating is cheap; reusing keeps ids stable)."""
    if name not in KEYS:
        KEYS[name] = Signer.generate(name)
    return KEYS[name]


ROLES = {"ci-compare": ["plan"], "alice": ["decide"], "bob": ["decide"], "both": ["plan", "decide"]}


def trust(*names: str) -> Trust:
    chosen = names or tuple(ROLES)
    return Trust(trusted_key(n, key(n).public.line, ROLES[n], f"test {n}") for n in chosen)


def trust_file(directory: Path, *names: str) -> Path:
    path = directory / "trust.toml"
    chosen = names or tuple(ROLES)
    path.write_text("".join(trust_entry(n, key(n).public.line, ROLES[n]) for n in chosen))
    return path


def plan_signer(name: str) -> Callable[[str], dict[str, str]]:
    return lambda digest: key(name).sign(PLAN_PURPOSE, digest.encode("utf-8"))


def line_signer(name: str) -> Callable[[bytes], dict[str, str]]:
    return lambda line: key(name).sign(DECISION_PURPOSE, line)


def events() -> list[dict[str, Any]]:
    return [
        modify_title(JDOE, "Engineer", "Lead Engineer", state="pending"),
        membership("add", STAFF, BWONG, state="pending"),
        membership("delete", VPN, ASMITH, state="pending"),
        modify_title(CDAVIS, "Analyst", "Senior Analyst"),
    ]


def write(path: Path, signer: str | None = "ci-compare") -> list[str]:
    plan = make_plan(events())
    save_plan(plan, path, plan_signer(signer) if signer else None)
    return [e["id"] for e in plan["events"]]


def decide(
    path: Path,
    ids: list[str],
    by: str = "alice",
    signer: str | None = "alice",
    decision: str = "approved",
) -> None:
    sign = line_signer(signer) if signer else None
    request = review.Request(decision, by, sign=sign)
    review.decide_file(path, ids, decision, by, request=request)


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, list[str]]:
    """A plan signed by compare's key, its first event approved by alice (signed)."""
    path = tmp_path / "out" / "plan.jsonl"
    path.parent.mkdir()
    ids = write(path)
    decide(path, ids[:1])
    return path, ids


def refused(path: Path, *words: str, **kw: Any) -> str:
    kw.setdefault("trust", trust())
    with pytest.raises(InputError) as caught:
        load_verified(path, **kw)
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    return message


def ldif(tmp_path: Path, path: Path, *args: str) -> tuple[Result, Path]:
    out = tmp_path / "changes.ldif"
    result = CliRunner().invoke(cli, ["plan", "ldif", str(path), "-o", str(out), *args])
    return result, out


def assert_ldif_refused(result: Result, out: Path, *words: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    for word in words:
        assert word in lines[0], lines[0]
    assert not out.exists()
    assert not list(out.parent.glob(".*ldif*"))  # no temporary left either


def forge(path: Path, keep_signature: bool, extra: dict[str, Any]) -> None:
    """The issue's forgery: an auto event added by hand, the digest recomputed, and
    the ledger's lines bound and chained to the new digest (their signatures kept:
    the forger has no trusted key), so that no check but a signature can catch it."""
    header = read_header(path)
    lines = [orjson.loads(line.raw) for line in ledger.read(path, header)]
    plan = load_plan(path, decisions=False)
    signature = plan.pop("signature", None)
    plan["events"].append(extra)
    plan["digest"] = digest_of(plan)
    if keep_signature and signature:
        plan["signature"] = signature
    path.write_bytes(dumps(plan))
    prev, out = plan["digest"], b""
    for data in lines:
        raw = canonical(data | {"plan": plan["digest"], "prev": prev})
        out += raw + b"\n"
        prev = ledger.line_hash(raw)
    ledger.ledger_path(path).write_bytes(out)


# -- the baseline --------------------------------------------------------------------


def test_a_signed_plan_with_signed_decisions_is_verified(
    signed: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, _ = signed
    plan, verified = load_verified(path, trust())
    assert verified.plan_signer == "ci-compare" and verified.decision_signers == ("alice",)
    assert [e["approval"]["state"] for e in plan["events"]][:2] == ["approved", "pending"]
    result, out = ldif(tmp_path, path, "--trust", str(trust_file(tmp_path)))
    assert result.exit_code == 0, result.output
    assert JDOE in out.read_text()


# -- the plan's signature ------------------------------------------------------------


def test_an_unsigned_plan_is_refused_without_allow_unsigned(tmp_path: Path) -> None:
    path = tmp_path / "plan.jsonl"
    ids = write(path, signer=None)
    decide(path, ids[:1])
    refused(path, "the plan is not signed", "--allow-unsigned")
    load_verified(path, trust(), allow_unsigned=True)
    result, out = ldif(tmp_path, path, "--trust", str(trust_file(tmp_path)))
    assert_ldif_refused(result, out, "not signed")


def test_no_trust_at_all_is_refused_without_allow_unsigned(signed: tuple[Path, list[str]]) -> None:
    path, _ = signed
    refused(path, "no trusted keys", trust=Trust())


def test_an_unsigned_decision_is_refused_without_allow_unsigned(
    signed: tuple[Path, list[str]],
) -> None:
    path, ids = signed
    decide(path, ids[1:2], by="bob", signer=None)
    refused(path, "line 2", "the decision is not signed")
    _, verified = load_verified(path, trust(), allow_unsigned=True)
    assert verified.decision_signers == ("alice",)


@pytest.mark.parametrize("keep_signature", [True, False], ids=["old-signature", "unsigned"])
def test_the_forgery_resealed_by_hand_is_refused(
    signed: tuple[Path, list[str]], tmp_path: Path, keep_signature: bool
) -> None:
    path, _ = signed
    forge(path, keep_signature, membership("add", VPN, JDOE))
    words = ("does not match",) if keep_signature else ("the plan is not signed",)
    refused(path, *words)
    result, out = ldif(tmp_path, path, "--trust", str(trust_file(tmp_path)))
    assert_ldif_refused(result, out, *words)


def test_a_plan_resigned_with_an_attackers_key_is_refused(
    signed: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, _ = signed
    forge(path, False, membership("add", VPN, JDOE))
    plan = load_plan(path, decisions=False)
    plan["signature"] = plan_signer("mallory")(plan["digest"])
    path.write_bytes(dumps(plan))
    refused(path, "not trusted", key("mallory").key_id)
    # --allow-unsigned lets an unknown key pass as no signature, but alice's
    # decision was signed for the old digest: its signature no longer matches
    refused(path, "line 1", "'alice'", "does not match", allow_unsigned=True)


def test_a_plan_signed_with_a_decide_only_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.jsonl"
    write(path, signer="alice")
    refused(path, "'alice'", "may not sign plans")
    refused(path, "may not sign plans", allow_unsigned=True)  # trusted, so checked


def test_a_decision_signed_with_a_plan_only_key_is_refused(
    signed: tuple[Path, list[str]],
) -> None:
    path, ids = signed
    decide(path, ids[1:2], by="ci-compare", signer="ci-compare")
    refused(path, "line 2", "may not sign decisions")


def test_a_plan_signature_cannot_pass_as_a_decision_signature(
    signed: tuple[Path, list[str]],
) -> None:
    """A key with both roles: a signature made for one purpose is refused for the other."""
    path, ids = signed
    header = read_header(path)
    ledger.append(
        path,
        header,
        ledger.Entry("approved", ids[1:2], "both"),
        lambda line: key("both").sign(PLAN_PURPOSE, line),
    )
    refused(path, "line 2", "does not match")


def test_a_decision_signed_by_a_trusted_key_but_made_by_another_is_refused(
    signed: tuple[Path, list[str]],
) -> None:
    path, ids = signed
    decide(path, ids[1:2], by="bob", signer="alice")
    refused(path, "line 2", "made by 'bob' but signed by 'alice'")
    refused(path, "line 2", "made by 'bob'", allow_unsigned=True)


def test_a_signed_decision_edited_is_refused_even_the_last(
    signed: tuple[Path, list[str]],
) -> None:
    """Unsigned, an edit of the last line leaves a valid chain (tests/test_ledger.py);
    signed, it is caught by its own signature."""
    path, ids = signed
    lines = ledger.ledger_path(path).read_bytes().splitlines()
    data = orjson.loads(lines[-1]) | {"ids": ids[:3]}
    ledger.ledger_path(path).write_bytes(canonical(data) + b"\n")
    refused(path, "line 1", "does not match")
    refused(path, "line 1", "does not match", allow_unsigned=True)


def test_a_signed_decision_replayed_into_another_plans_ledger_is_refused(
    signed: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, _ = signed
    other = tmp_path / "other" / "plan.jsonl"
    other.parent.mkdir()
    plan = make_plan(events(), plan_id="pl-fedcba9876543210")
    save_plan(plan, other, plan_signer("ci-compare"))
    ledger.ledger_path(other).write_bytes(ledger.ledger_path(path).read_bytes())
    refused(other, "line 1", "another plan")


def test_allow_unsigned_with_a_bad_signature_by_a_trusted_key_is_refused(
    signed: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, _ = signed
    plan = load_plan(path, decisions=False)
    sig = plan["signature"]["sig"]
    plan["signature"]["sig"] = ("B" if sig[0] == "A" else "A") + sig[1:]
    path.write_bytes(dumps(plan))
    refused(path, "does not match", allow_unsigned=True)
    result, out = ldif(tmp_path, path, "--allow-unsigned", "--trust", str(trust_file(tmp_path)))
    assert_ldif_refused(result, out, "does not match")


# -- where trust comes from ----------------------------------------------------------


def test_trust_in_the_config_the_plan_names_does_not_count(tmp_path: Path) -> None:
    """The plan names its config (config.path): whoever writes the plan could name a
    config of their own. Its [trust] counts only when the user gives it with -c."""
    config = tmp_path / "recondiff.toml"
    config.write_text(
        '[endpoint]\nname = "test-ldap"\nsnapshot = "ldap.ldif"\nkey = "uid"\n'
        '[repository]\nsnapshot = "ids.csv"\nkey = "id"\n'
        f'[trust]\nfile = "{trust_file(tmp_path).name}"\n'
    )
    path = tmp_path / "plan.jsonl"
    plan = make_plan(events())
    plan["config"]["path"] = str(config)
    save_plan(plan, path, plan_signer("ci-compare"))
    decide(path, [plan["events"][0]["id"]])
    result, out = ldif(tmp_path, path)
    assert_ldif_refused(result, out, "no trusted keys")
    result, out = ldif(tmp_path, path, "-c", str(config))
    assert result.exit_code == 0, result.output
    assert JDOE in out.read_text()


# -- the ledger's head ---------------------------------------------------------------


def test_decisions_head_catches_the_removal_of_the_last_lines(
    signed: tuple[Path, list[str]], tmp_path: Path
) -> None:
    """Removing decisions from the end leaves a valid signed chain (a rejection
    dropped turns into nothing): only the head recorded elsewhere catches it."""
    path, ids = signed
    decide(path, ids[1:2], decision="rejected")
    decide(path, ids[2:3], decision="rejected")
    _, verified = load_verified(path, trust())
    head = verified.head
    ledger_file = ledger.ledger_path(path)
    lines = ledger_file.read_bytes().splitlines(keepends=True)
    for kept in (2, 1):
        ledger_file.write_bytes(b"".join(lines[:kept]))
        load_verified(path, trust())  # still a valid signed chain
        refused(path, "--decisions-head", expect_head=head)
        refused(path, "--decisions-head", expect_head=head[:19])
        result, out = ldif(
            tmp_path, path, "--trust", str(trust_file(tmp_path)), "--decisions-head", head[:19]
        )
        assert_ldif_refused(result, out, "--decisions-head")
    ledger_file.write_bytes(b"".join(lines))
    load_verified(path, trust(), expect_head=head[:19])


@pytest.mark.parametrize("length", [0, 1, 7, 8, 18])
def test_decisions_head_too_short_to_pin_anything_is_refused(
    signed: tuple[Path, list[str]], length: int
) -> None:
    """``--decisions-head "$HEAD"`` with HEAD unset matched every ledger (a prefix of
    nothing), and "sha256:" or a digit more matched most: a head must be sha256:
    and at least the 12 hex digits apply prints."""
    path, _ = signed
    _, verified = load_verified(path, trust())
    refused(path, "--decisions-head", expect_head=verified.head[:length])


# -- nothing written when a check fails: apply against slapd -------------------------


def test_the_forgery_is_refused_by_apply_and_nothing_is_written(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """The issue's attack end to end: a signed plan whose approvals were signed;
    someone who can write the output directory adds an auto event putting jdoe in
    vpn and re-seals the digest. apply refuses with one line; no journal, no change."""
    path = tmp_path / "plan.jsonl"
    ids = write(path)
    decide(path, ids[:1])
    forge(path, True, membership("add", VPN, JDOE))
    before = ldap_server.entry(VPN)
    trusted = trust_file(tmp_path)
    result = CliRunner().invoke(
        cli,
        [
            "apply",
            str(path),
            "--url",
            ldap_server.url,
            "--bind-dn",
            ldap_server.admin_dn,
            "--password-env",
            "RD_PW",
            "--allow-plaintext",
            "--trust",
            str(trusted),
        ],
        env={"RD_PW": ldap_server.password},
    )
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "does not match" in result.stderr
    assert not default_journal(path).exists()
    assert ldap_server.entry(VPN) == before
    staff = ldap_server.entry(STAFF)
    forge(path, False, membership("add", STAFF, JDOE))  # the signature dropped instead
    with pytest.raises(InputError, match="not signed"):
        apply_plan(path, target(ldap_server), trust=trust())
    assert not default_journal(path).exists()
    assert ldap_server.entry(VPN) == before and ldap_server.entry(STAFF) == staff


def test_a_signed_plan_with_signed_approvals_applies(ldap_server: Slapd, tmp_path: Path) -> None:
    path = tmp_path / "plan.jsonl"
    ids = write(path)
    decide(path, ids[1:2], by="bob", signer="bob")
    head = ledger.head(ledger.read(path, read_header(path)), read_header(path))
    result = apply_plan(path, target(ldap_server), trust=trust(), decisions_head=head[:19])
    outcomes = {o.event_id: o.outcome for o in result.outcomes}
    assert outcomes[ids[1]] == "applied" and outcomes[ids[0]] == "skipped"
    assert BWONG in ldap_server.entry(STAFF)["member"]
