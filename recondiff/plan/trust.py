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

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from recondiff.errors import InputError, printable
from recondiff.io.signing import DECISION_PURPOSE, PLAN_PURPOSE, Trust
from recondiff.plan.file import Event, Plan
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


_HEAD = re.compile(r"sha256:[0-9a-f]{12,64}")
"""A ledger head given to pin it: at least what apply prints (:func:`head_text`)."""


def pinned_head(given: str) -> str:
    """``--decisions-head`` checked: a prefix of nothing ("$HEAD" unset) or of a few
    digits would match any ledger, so it must be sha256: and 12 hex digits or more."""
    value = given.strip().lower()
    if not _HEAD.fullmatch(value):
        raise InputError(
            f"--decisions-head {printable(given[:80])!r} is not a ledger head: give sha256: and "
            "at least 12 hex digits, as apply prints it (decisions head sha256:...)"
        )
    return value


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
    if expect_head is not None:
        expect_head = pinned_head(expect_head)
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


class VerifiedPlan:
    """A plan file whose signatures are checked (:func:`verify`), read in two
    passes with flat memory: :meth:`scan` checks every line against the schema and
    the digest (and must run to its end before anything acts), :meth:`events`
    reads the same lines again, each held to the hash the scan saw for it."""

    def __init__(
        self,
        plan_path: Path | str,
        trust: Trust,
        *,
        allow_unsigned: bool = False,
        expect_head: str | None = None,
    ) -> None:
        from recondiff.plan import file, ledger

        self.path = Path(plan_path)
        self.header: Plan = file.read_header(self.path)
        self.lines = ledger.read(self.path, self.header)
        # signatures first: the header's digest is then held to the events by scan()
        self.verified = verify(
            self.path, self.header, self.lines, trust,
            allow_unsigned=allow_unsigned, expect_head=expect_head,
        )  # fmt: skip
        self._hashes: list[bytes] = []
        self._scanned = False

    def _decided(self, events: Iterator[Event]) -> Iterator[Event]:
        from recondiff.plan import ledger

        return ledger.decided(events, self.lines, ledger_path(self.path))

    def scan(self) -> Iterator[Event]:
        """Every event, checked in full, with its decision; the digest and the
        ledger's ids are checked when the iteration ends."""
        from recondiff.plan import file

        def checked() -> Iterator[Event]:
            seen: set[str] = set()
            for number, line in file.iter_lines(self.path, self.header):
                parsed = file.parse_line(line, self.path, number)
                event = file.check_event(parsed, self.path, number)
                if event["id"] in seen:
                    raise InputError(
                        f"{self.path}: line {number}: event id {event['id']} appears twice"
                    )
                seen.add(event["id"])
                self._hashes.append(hashlib.sha256(line).digest())
                yield event

        self._hashes.clear()
        yield from self._decided(checked())
        self._scanned = True

    def events(self) -> Iterator[Event]:
        """The events again, with their decisions, for acting on (after :meth:`scan`)."""
        from recondiff.plan import file

        if not self._scanned:
            raise RuntimeError("scan() the plan before acting on its events")
        yield from self._decided(file.iter_pinned(self.path, self.header, self._hashes))


def load_verified(
    plan_path: Path | str,
    trust: Trust,
    *,
    allow_unsigned: bool = False,
    expect_head: str | None = None,
) -> tuple[Plan, Verified]:
    """The plan at ``plan_path`` with its decisions folded in, once its digest, its
    ledger's chain and every signature are checked (:func:`verify`)."""
    from recondiff.plan import file

    source = VerifiedPlan(plan_path, trust, allow_unsigned=allow_unsigned, expect_head=expect_head)
    events = list(source.scan())  # the digest and the ledger's ids are checked at the end
    return source.header | {"events": events, "counts": file.counts(events)}, source.verified
