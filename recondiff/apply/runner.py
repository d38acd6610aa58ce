"""Run an approved plan against an LDAP server (``recondiff apply``, docs/plan.md).

Only :func:`recondiff.plan.file.runnable` events run (approved or auto endpoint
events, in plan order); pending and rejected ones are journalled ``skipped``;
repository events never run. Each event is one LDAP operation (add, delete or
one modify), carrying its ``preconditions`` as an RFC 4528 assertion control
when the server supports it, so that a value changed since the diff fails the
operation atomically on the server (the event is then ``stale``, never forced).

The journal (:mod:`recondiff.apply.journal`) makes a re-run resume: an event
the journal records ``applied``, ``stale`` or ``failed`` is never sent again
(whatever its approval says later), and one left ``started`` (the process or
the server died after it was sent) is looked up on the server and recorded
``applied`` if its changes are there, else sent again (or ``skipped`` if it is
no longer approved). A lost connection therefore stops the run with a one-line
error instead of recording the event ``failed``: re-running the same command
applies every event exactly once. The groups planned for an account the plan
creates are sent only once its ``add`` is applied (a stale or failed creation
makes them ``stale``).

:func:`apply_plan` reads in the order it runs: the config in force and the
plan's checks (:mod:`recondiff.plan.checks`), the journal's lock, the
connection (:mod:`recondiff.apply.transport`), then :class:`_Run` over the
events, each sent or checked by :class:`recondiff.apply.event.EventRunner`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recondiff.apply.event import (
    EventOutcome,
    EventRunner,
    Progress,
    dn_key,
    event_summary,
)
from recondiff.apply.journal import Journal, default_journal
from recondiff.apply.transport import (
    CONNECTION_ERRORS,
    LdapError,
    LdapTarget,
    Lost,
    Transport,
    connect,
    exception_text,
)
from recondiff.config.load import Config, load_config
from recondiff.errors import ConfigError, ExitCode
from recondiff.io.signing import Trust
from recondiff.plan.assertions import (
    MEMBER_ATTRIBUTES,
)
from recondiff.plan.checks import check_plan, mass_counts, refusal
from recondiff.plan.choices import ChosenDeletes, chosen
from recondiff.plan.file import Event, Plan
from recondiff.plan.trust import VerifiedPlan
from recondiff.vocabulary import attribute_type


@dataclass
class ApplyResult:
    """What :func:`apply_plan` did: every endpoint event's outcome, in plan order."""

    outcomes: list[EventOutcome]
    """Every outcome, unless ``keep_outcomes=False`` (the CLI: a 10M run's plan has
    550,000 events, each printed as it settles)."""
    journal: Path
    dry_run: bool
    assertion_control: bool
    tally: Counter[str] = field(default_factory=Counter)

    def counts(self) -> dict[str, int]:
        return {name: n for name, n in self.tally.items() if n}

    @property
    def exit_code(self) -> int:
        """0 when every event to run was applied (or would be), else 1."""
        bad = ("stale", "failed", "in_doubt", "would_be_stale", "would_fail")
        if any(self.tally[name] for name in bad):
            return ExitCode.DIFFERENCES
        return ExitCode.IN_SYNC


# -- the run -------------------------------------------------------------------------


def apply_plan(
    plan_path: Path | str,
    target: LdapTarget,
    *,
    journal_path: Path | str | None = None,
    dry_run: bool = False,
    allow_mass_change: int | None = None,
    progress: Progress | None = None,
    after_event: Callable[[EventOutcome], None] | None = None,
    config: Config | None = None,
    allow: Mapping[str, int | None] | None = None,
    config_from_plan: bool = False,
    trust: Trust | None = None,
    allow_unsigned: bool = False,
    decisions_head: str | None = None,
    keep_outcomes: bool = True,
    allow_delete: bool = False,
) -> ApplyResult:
    """Run the plan's approved and auto endpoint events against ``target``.

    ``after_event`` is called with every event's outcome as soon as it is
    journalled (the CLI prints it; tests use it to kill the server mid-run).
    Raises :class:`RecondiffError` subclasses (one line): the plan is unreadable
    or edited (:class:`InputError`), over its safety limits (:class:`SafetyError`),
    the journal belongs to another plan (:class:`JournalError`), or the server
    cannot be reached or the connection is lost (:class:`LdapError`; the journal
    then shows where it stopped and a re-run resumes).

    ``config`` is the config in force (``--config``): its protected keys are
    refused as well as the plan's, and each mass-change limit is the stricter
    of the two. ``allow`` maps a guard's name (:data:`GUARDS`) to the count its
    override flag accepts; ``allow_mass_change`` is the one of deletes and disables.
    With ``config_from_plan`` and no ``config``, the config is the file the plan
    names (``config.path``, as compare was given it), read as it is now.

    The plan and every decision in its ledger must be signed by a key in
    ``trust`` (never from the plan or the config it names: docs/signing.md),
    unless ``allow_unsigned``; ``decisions_head`` pins the ledger's last line.
    ``allow_delete``: run the deletes a reviewer chose where the plan proposed a
    disable (docs/plan.md, Rejecting a new account).
    """
    source = VerifiedPlan(
        plan_path, trust or Trust(), allow_unsigned=allow_unsigned, expect_head=decisions_head
    )
    plan = source.header
    if progress:
        progress(source.verified.describe())
    if config is None and config_from_plan:
        config = config_named_by(plan)
        if progress:
            progress(f"config in force: {config.path} (named by the plan; --config names another)")
    allowed = dict(allow or {})
    if allow_mass_change is not None:
        allowed["deletes"] = allow_mass_change
    scan = _Scan(source)
    # a reviewer's delete-or-disable runs as chosen, and the guards count it so
    choices = ChosenDeletes()
    counts = mass_counts(plan, config, choices.chosen(scan.runnable()))  # flat memory
    choices.check(allow_delete, plan_path)
    protected = check_plan(plan, config, allowed, plan_path, counts)
    journal = Journal(
        Path(journal_path) if journal_path else default_journal(plan_path),
        plan["plan_id"],
        plan["digest"],
    )
    transport = _connect(journal, target, dry_run, progress)
    try:
        if not dry_run:
            journal.open()
        events = _event_runner(transport, target, plan, config, protected)
        run = _Run(plan, events, journal, dry_run, after_event, scan.creations, keep_outcomes)
        run.all(target, map(chosen, source.events()), scan.to_run, progress)
    finally:
        journal.close()
        transport.close()
    return ApplyResult(run.outcomes, journal.path, dry_run, events.assertion, run.tally)


class _Scan:
    """The first pass over a plan: its runnable endpoint events (for the mass-change
    guards), how many there are, and its account creations (by DN, their ids)."""

    def __init__(self, source: VerifiedPlan) -> None:
        self.source = source
        self.creations: dict[str, str] = {}
        self.to_run = 0

    def runnable(self) -> Iterator[Event]:
        for event in self.source.scan():
            if event["target"] != "endpoint":
                continue
            dn = event["object"].get("dn")
            if event["operation"] == "add" and dn:
                self.creations[dn_key(dn)] = event["id"]
            if event["approval"]["state"] in ("auto", "approved"):
                self.to_run += 1
                yield event


def config_named_by(plan: Plan) -> Config:
    """The config file the plan was made from, as it reads now: the config in
    force when ``apply`` is not given ``--config``."""
    named = Path(plan["config"]["path"])
    if not named.is_file():
        raise ConfigError(
            f"the plan was made from the config {named}, which is not here; pass the config "
            "in force with --config recondiff.toml (its protected keys and mass-change limits "
            "are enforced with the plan's)"
        )
    return load_config(named)


def _connect(
    journal: Journal, target: LdapTarget, dry_run: bool, progress: Progress | None
) -> Transport:
    """Lock and read the journal (a dry run only reads it), then connect."""
    # The lock before the reading: a second apply must not act on what it read
    # before the first one finished (it would send everything again).
    if dry_run:
        journal.read()
    else:
        journal.lock()
    try:
        if progress:
            progress(f"connecting to {target.url}")
        return Transport(connect(target, read_only=dry_run))
    except BaseException:
        journal.close()
        raise


def _event_runner(
    transport: Transport,
    target: LdapTarget,
    plan: Plan,
    config: Config | None,
    protected: frozenset[str],
) -> EventRunner:
    """The events' runner, once the server says whether it takes the assertion control."""
    try:
        assertion = transport.supports_assertion()
    except CONNECTION_ERRORS as exc:
        raise LdapError(f"{target.url}: lost the connection ({exception_text(exc)})") from None
    return EventRunner(
        transport,
        assertion,
        protected,
        plan["endpoint"].get("uuid_attribute"),
        [plan["endpoint"]["key_attribute"]] + ([config.endpoint.key] if config is not None else []),
    )


@dataclass
class _Run:
    """One pass over a plan's endpoint events, in plan order: each one run,
    resumed, skipped or held back, journalled and reported."""

    plan: Plan  # the header
    events: EventRunner
    journal: Journal
    dry_run: bool
    after_event: Callable[[EventOutcome], None] | None
    creations: dict[str, str]
    """The plan's account creations: each add's id by :func:`dn_key` of its DN."""
    keep_outcomes: bool = True
    outcomes: list[EventOutcome] = field(default_factory=list)
    tally: Counter[str] = field(default_factory=Counter)
    seen: dict[str, EventOutcome] = field(default_factory=dict)
    """This run's outcome of each creation so far (a membership waits for its account's)."""
    _adds: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self._adds = frozenset(self.creations.values())

    def all(
        self,
        target: LdapTarget,
        events: Iterable[Event],
        to_run: int,
        progress: Progress | None,
    ) -> None:
        """Every endpoint event; a lost connection stops the run (:class:`LdapError`)."""
        if progress:
            control = "with" if self.events.assertion else "without"
            progress(f"{to_run} events to run, {control} the assertion control")
        done = 0
        for event in events:
            if event["target"] != "endpoint":
                continue
            runs = event["approval"]["state"] in ("auto", "approved")
            if runs:
                done += 1
                if progress and (done % 100 == 0 or done == to_run):
                    progress(f"event {done}/{to_run}")
            try:
                if runs:
                    self.run(event)
                else:
                    self.skip(event)
            except Lost as exc:
                where = (
                    ""
                    if self.dry_run
                    else f"; re-run the same command to resume from the journal {self.journal.path}"
                )
                raise LdapError(f"{target.url}: lost the connection ({exc}){where}") from None

    def report(self, outcome: EventOutcome) -> None:
        if self.keep_outcomes:
            self.outcomes.append(outcome)
        self.tally[outcome.outcome] += 1
        if outcome.event_id in self._adds:  # only a creation's outcome is looked up
            self.seen[outcome.event_id] = outcome
        if self.after_event is not None:
            self.after_event(outcome)

    def settle(self, outcome: EventOutcome) -> None:
        """Journal ``outcome`` (not in a dry run, nor a ``skipped`` twice in a row),
        then report it."""
        journal = self.journal
        repeated = outcome.outcome == "skipped" and journal.outcome(outcome.event_id) == "skipped"
        if not self.dry_run and not repeated:
            journal.record(outcome.event_id, outcome.outcome, outcome.result, outcome.message)
        self.report(outcome)

    def run(self, event: Event) -> None:
        """An approved or auto event: sent (checked in a dry run) unless the journal
        has its outcome already, it is refused, found done, or waits for a creation."""
        event_id = event["id"]
        done = self.journal.done.get(event_id)
        if done is not None:
            self.report(
                EventOutcome(
                    event_id, done["outcome"], done["result"], done["message"], previous=True
                )
            )
            return
        refused = refusal(self.plan, event, self.events.protected)
        if refused is not None:
            failed = "would_fail" if self.dry_run else "failed"
            self.settle(EventOutcome(event_id, failed, None, refused))
            return
        if self.journal.outcome(event_id) == "started":
            resumed = self.resumed(event)
            if resumed is not None:
                self.settle(resumed)
                return
        waiting = _waits_for_creation(event, self.creations, self.seen, self.journal.done)
        if waiting is not None:
            if self.dry_run and waiting.outcome == "stale":
                waiting = EventOutcome(event_id, "would_be_stale", None, waiting.message)
            self.settle(waiting)
            return
        if self.dry_run:
            self.report(self.events.check(event))
            return
        self.journal.record(event_id, "started", None, event_summary(event))
        self.settle(self.events.send(event))

    def skip(self, event: Event) -> None:
        """A pending or rejected event: not sent. But one already applied stays
        applied (a later approval must not send it again), and one left ``started``
        is looked up on the server, as a resume does."""
        event_id = event["id"]
        state = event["approval"]["state"]
        message = "pending approval" if state == "pending" else _rejected(event)
        done = self.journal.done.get(event_id)
        if done is not None:
            since = f"{done['message']} ({state} after it was {done['outcome']}: never sent again)"
            self.report(
                EventOutcome(event_id, done["outcome"], done["result"], since, previous=True)
            )
            return
        resumed = None
        if self.journal.outcome(event_id) == "started" and refusal(self.plan, event) is None:
            resumed = self.resumed(event, f"; {state} since")
        self.settle(resumed or EventOutcome(event_id, "skipped", None, message))

    def resumed(self, event: Event, also: str = "") -> EventOutcome | None:
        """An event left ``started`` whose changes are on the server: ``applied``, or
        ``in_doubt`` when a membership's computed back-link disagrees."""
        started = self.journal.last.get(event["id"], {}).get("at")
        if not self.events.already_done(event, started):
            return None
        doubt = self.events.back_link_doubt(event)
        if doubt is not None:
            return EventOutcome(event["id"], "in_doubt", None, doubt)
        message = (
            f"{event_summary(event)} (already on the server: the previous run stopped after "
            f"sending it{also})"
        )
        return EventOutcome(event["id"], "applied", 0, message)


def _rejected(event: Event) -> str:
    by = event["approval"].get("by")
    return f"rejected by {by}" if by else "rejected"


def _waits_for_creation(
    event: Event,
    creations: dict[str, str],
    seen: dict[str, EventOutcome],
    done: dict[str, dict[str, Any]],
) -> EventOutcome | None:
    """A membership of an account this plan creates runs only once the creation
    is applied: if the add is stale (the DN holds an entry recondiff did not
    create) or failed, the membership is stale too; if it has not run (pending,
    rejected), the membership waits (``skipped``, sent by a later apply)."""
    member = event["object"].get("member_of") or {}
    # The member the modify sends, as well as the event's label for it.
    names = [member.get("dn") or ""] + [
        value
        for c in event["changes"]
        if attribute_type(c["attribute"]) in MEMBER_ATTRIBUTES
        for value in c["values"]
    ]
    add = next(
        (
            creations[key]
            for key in map(dn_key, names)
            if key in creations and creations[key] != event["id"]
        ),
        None,
    )
    if add is None:
        return None
    got = seen.get(add)
    record = done.get(add)
    if got is None and record is not None:
        # The add comes later in this plan's order, but an earlier apply ran it.
        got = EventOutcome(add, record["outcome"], record["result"], record["message"])
    if got is not None and got.outcome in ("applied", "would_apply"):
        return None
    if got is None or got.outcome == "skipped":
        why = got.message if got is not None else "not run yet"
        message = f"waiting for the account's creation (add {add}: {why})"
        return EventOutcome(event["id"], "skipped", None, message)
    outcome = {"would_be_stale": "stale", "would_fail": "failed"}.get(got.outcome, got.outcome)
    code = f" ({got.result})" if got.result is not None else ""
    message = (
        f"not sent: the account's creation (add {add}) is {outcome}{code}, so the "
        "groups planned for the new account are not given to an entry recondiff did not create"
    )
    return EventOutcome(event["id"], "stale", None, message)
