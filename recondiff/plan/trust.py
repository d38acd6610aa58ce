"""Whether a plan and its decisions may be acted on: their signatures checked
against trusted keys (docs/signing.md), for ``apply`` and ``plan ldif``.

The keys come from the caller (``--trust FILE``, the ``[trust]`` of a config
given with ``-c``), never from the plan, its ledger, or the config the plan
names: whoever can write those could name their own key. The plan's
signature covers its digest, which :func:`recondiff.plan.file.iter_events`
recomputes from the events before anything acts on them; each ledger line's
covers the line, which names the plan's digest and the hash of the line
before it. A decision's ``by`` must be its signer's trusted name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from recondiff.errors import InputError
from recondiff.io.signing import DECISION_PURPOSE, PLAN_PURPOSE, Trust
from recondiff.plan.file import Plan
from recondiff.plan.ledger import Line, head, ledger_path


class UnsignedError(InputError):
    """A plan or decision without a signature, and no ``--allow-unsigned``."""


@dataclass(frozen=True)
class Verified:
    """What was checked: who signed the plan (None: unsigned, allowed), the
    decisions' signers, and the ledger's head (its last line's hash)."""

    plan_signer: str | None
    decision_signers: tuple[str, ...]
    decisions: int
    head: str

    def describe(self) -> str:
        plan = f"signed by {self.plan_signer}" if self.plan_signer else "NOT signed"
        signers = sorted(set(self.decision_signers))
        decided = (
            f"{self.decisions} decision lines signed by {', '.join(signers)}"
            if signers
            else f"{self.decisions} decision lines, not signed"
        )
        if not self.decisions:
            decided = "no decisions"
        return f"plan {plan}; {decided}; decisions head {head_text(self.head)}"


def head_text(value: str) -> str:
    return value[:19] if value.startswith("sha256:") else value


def verify(
    plan_path: Path | str,
    header: Plan,
    lines: Sequence[Line],
    trust: Trust,
    *,
    allow_unsigned: bool = False,
    expect_head: str | None = None,
) -> Verified:
    """Check the plan's and every decision's signature (``header``'s digest must
    already be checked against the events). Without ``allow_unsigned`` the plan
    and every decision must be signed by a trusted key of the right role; with it,
    signatures are not required, but one that is there is still checked when its
    key is trusted (a bad signature is never let through). ``expect_head`` pins
    the ledger's last line (``--decisions-head``): a ledger cut short is refused."""
    where = str(plan_path)
    ledger = ledger_path(plan_path)
    if not allow_unsigned and not trust:
        raise UnsignedError(
            f"{where}: no trusted keys to check the plan's signatures against; name a trust "
            "file (--trust FILE) or a config with [trust] (-c), or pass --allow-unsigned "
            "(then anyone who can write the output directory can forge approvals)"
        )
    signer = _check(
        trust, header.get("signature"), PLAN_PURPOSE, header["digest"].encode(), "plan", where,
        allow_unsigned,
    )  # fmt: skip
    decision_signers: list[str] = []
    for line in lines:
        at = f"{ledger}: line {line.seq}"
        name = _check(
            trust, line.signature, DECISION_PURPOSE, line.unsigned(), "decide", at, allow_unsigned
        )
        if name is not None:
            Trust.require_name(line.by, name, str((line.signature or {}).get("key")), at)
            decision_signers.append(name)
    last = head(lines, header)
    if expect_head is not None and not last.startswith(expect_head):
        raise InputError(
            f"{ledger}: its last decision is {head_text(last)}, not the {expect_head[:19]} "
            "given with --decisions-head (decisions removed from its end, or added since?)"
        )
    return Verified(signer, tuple(decision_signers), len(lines), last)


def _check(
    trust: Trust,
    signature: object,
    purpose: str,
    message: bytes,
    role: str,
    where: str,
    allow_unsigned: bool,
) -> str | None:
    """The trusted signer's name; None when unsigned and that is allowed."""
    if signature is None:
        if allow_unsigned:
            return None
        what = "the plan" if role == "plan" else "the decision"
        raise UnsignedError(
            f"{where}: {what} is not signed; sign it (compare with [plan] signing_key, "
            "plan approve/reject/accept with --key) or pass --allow-unsigned"
        )
    if allow_unsigned and not _known(trust, signature):
        return None
    return trust.verify(purpose, message, signature, role, where)


def _known(trust: Trust, signature: object) -> bool:
    key = signature.get("key") if isinstance(signature, dict) else None
    return isinstance(key, str) and trust.name_of(key) is not None


def load_verified(
    plan_path: Path | str,
    trust: Trust,
    *,
    allow_unsigned: bool = False,
    expect_head: str | None = None,
) -> tuple[Plan, Verified]:
    """The plan at ``plan_path`` with its decisions folded in, once its digest, its
    ledger's chain and every signature are checked (:func:`verify`)."""
    from recondiff.plan import file, ledger

    header = file.read_header(plan_path)
    lines = ledger.read(plan_path, header)
    events = list(file.iter_events(plan_path, header))  # the digest is checked at the end
    verified = verify(
        plan_path, header, lines, trust, allow_unsigned=allow_unsigned, expect_head=expect_head
    )
    ledger.fold(events, lines, ledger_path(plan_path))
    return header | {"events": events, "counts": file.counts(events)}, verified
