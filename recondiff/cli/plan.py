"""`recondiff plan …`: review an action plan (part of the thin CLI; see cli.py).

Each command parses its options and calls :mod:`recondiff.review` (or
:mod:`recondiff.plan.file`); errors are :class:`~recondiff.errors.RecondiffError`
and become one line on stderr and exit 2 in cli.py. stdout is data.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from recondiff import review
from recondiff.cli.common import (
    config_option,
    mass_change_options,
    safety_exit,
    signature_options,
)
from recondiff.cli.keys import key_option, load_signer, load_trust
from recondiff.io.atomic import write_text_atomically
from recondiff.plan.checks import SafetyError


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _plan_argument(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.argument("plan_file", metavar="PLAN", type=click.Path(path_type=Path))(f)


@click.group(name="plan")
def plan_group() -> None:
    """Review an action plan: show, approve, reject, decisions round trip, LDIF, feed.

    Example: recondiff plan show out/plan.jsonl
    """


@plan_group.command(name="show")
@_plan_argument
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=review.LIMIT,
    show_default=True,
    help="List at most N alerts and N pending events (0: all); the counts are whole.",
)
def show(plan_file: Path, as_json: bool, limit: int) -> None:
    """Summarise PLAN with its decisions: header, counts, alerts, attention, pending events.

    The plan is streamed (a 10M run's plan in a few seconds); the decisions are
    its ledger's (PLAN's name with .decisions.jsonl).

    Example: recondiff plan show out/plan.jsonl
    """
    header, info = review.show_file(plan_file, limit or None)
    if as_json:
        click.echo(json.dumps(info, indent=2, ensure_ascii=False))
        return
    for line in review.summary_lines(info, header):
        click.echo(line)


_SELECTOR_OPTIONS = (
    ("--response", "responses", "RESPONSE", "the event's response (review, update_endpoint, …)."),
    ("--situation", "situations", "SITUATION", "the situation of the event's reason."),
    ("--operation", "operations", "OP", "add, modify, delete, disable, enable, link, unlink."),
    ("--attribute", "attributes", "NAME", "the only attribute its changes touch (surname = sn)."),
    ("--account", "accounts", "GLOB", "endpoint key or identity key (fnmatch, any case)."),
    ("--rule", "rules", "RULE", "the correlation rule of the event's reason."),
)


def _decision_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = key_option(
        help="Sign the decision with this Ed25519 private key (OpenSSH format; "
        "docs/signing.md); --by then defaults to the key's name.",
        envvar="RECONDIFF_KEY",
    )(f)
    f = click.option("--comment", metavar="TEXT", help="Recorded with each decision.")(f)
    f = click.option(
        "--by",
        "by",
        metavar="NAME",
        help="Who decides (recorded in the ledger; with --key, the name the key is trusted under).",
    )(f)
    for option, name, metavar, text in reversed(_SELECTOR_OPTIONS):
        f = click.option(
            option, name, multiple=True, metavar=metavar, help=f"Selector: {text} Repeatable."
        )(f)
    f = click.option(
        "--all", "all_pending", is_flag=True, help="Every pending event (decided ones are kept)."
    )(f)
    f = click.option(
        "--event",
        "events",
        multiple=True,
        metavar="ID",
        help="An event id (ev-…) to decide; repeatable.",
    )(f)
    return _plan_argument(f)


def _selector(options: dict[str, tuple[str, ...]]) -> review.Selector | None:
    selector = review.Selector.parse(**options)
    return None if selector.is_empty() else selector


def _report(selection: review.Selection) -> None:
    for line in selection.report_lines():
        click.echo(f"recondiff: {line}", err=True)


def _check_which(events: tuple[str, ...], all_pending: bool, selecting: bool) -> None:
    """--event, --all and a selector exclude each other; one of them is needed."""
    if events and all_pending:
        raise click.UsageError("give --event ID (repeatable) or --all, not both")
    if selecting and (events or all_pending):
        given = "--event ID" if events else "--all"
        raise click.UsageError(
            f"give {given} or a selector, not both (a selector decides only pending events)"
        )
    if not (events or all_pending or selecting):
        raise click.UsageError(
            "say which events: --event ID (repeatable), --all, or a selector "
            "(--response, --situation, --operation, --attribute, --account, --rule)"
        )


def _until_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--until",
        type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"]),
        metavar="DATE",
        help="The decision is remembered by later runs until DATE (YYYY-MM-DD, UTC; "
        "a time may follow). Default: until revoked (recondiff exceptions revoke).",
    )(f)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _request(
    decision: str,
    by: str | None,
    comment: str | None,
    key_path: Path | None,
    until: datetime | None = None,
) -> review.Request:
    """Who decides, and the signer of the ledger line (``--key``)."""
    signer = load_signer(key_path)
    if by is None:
        if signer is None:
            raise click.UsageError("say who decides: --by NAME (or sign with --key FILE)")
        by = signer.name
    sign = None
    if signer is not None:
        from recondiff.io.signing import DECISION_PURPOSE

        def sign(line: bytes, signer: Any = signer) -> dict[str, str]:
            return dict(signer.sign(DECISION_PURPOSE, line))

    return review.Request(decision, by, comment, until=_utc(until), sign=sign)


def _decide(
    request: review.Request,
    plan_file: Path,
    events: tuple[str, ...],
    all_pending: bool,
    selector_options: dict[str, tuple[str, ...]],
) -> None:
    _check_which(events, all_pending, any(selector_options.values()))
    selector = _selector(selector_options)
    if selector is not None:
        _, decided = review.decide_selected(
            plan_file, selector, request.decision, request.by, report=_report, request=request
        )
    else:
        ids = None if all_pending else events
        decided = review.decide_file(plan_file, ids, request.decision, request.by, request=request)
    for event_id in decided:
        click.echo(event_id)
    head = review.decisions_head(plan_file)
    click.echo(
        f"recondiff: {request.decision} {_plural(len(decided), 'event')} in {plan_file}; "
        f"decisions head {head[:19]} (record it with the change: apply --decisions-head)",
        err=True,
    )


@plan_group.command(name="approve")
@_decision_options
@click.option(
    "--action",
    type=click.Choice(["delete", "disable"]),
    help="For a rejected new account: delete or disable it (docs/plan.md, Rejecting a new "
    "account); the config's new_account_rejected_action is only the default.",
)
def approve(
    plan_file: Path,
    events: tuple[str, ...],
    all_pending: bool,
    by: str | None,
    comment: str | None,
    key_path: Path | None,
    action: str | None,
    **selector_options: tuple[str, ...],
) -> None:
    """Approve events of PLAN that need approval: one line in PLAN's decisions ledger.

    --all approves every pending event; events already approved or rejected
    keep their decision (name one with --event to change it). Prints the ids
    decided.

    A selector decides the pending events of a kind: --response, --situation,
    --operation, --attribute, --account GLOB, --rule. Options combine with AND;
    a repeated option ORs its values. It first prints how many events it hits,
    by operation and by response, and those it skips (already decided, auto).
    A selector that hits nothing is an error and writes nothing. --event,
    --all and a selector exclude each other.

    Example: recondiff plan approve out/plan.jsonl --event ev-0123456789abcdef --by "J. Smith"

    Example: recondiff plan approve out/plan.jsonl --response review --attribute mail --by J.Smith
    """
    if action is not None:
        _check_action(plan_file, events, action)
    request = dataclasses.replace(_request("approved", by, comment, key_path), action=action)
    _decide(request, plan_file, events, all_pending, selector_options)


def _check_action(plan_file: Path, events: tuple[str, ...], action: str) -> None:
    """--action is per account: with --event, each event offering that choice."""
    from recondiff.plan.choices import check_action

    if not events:
        raise click.UsageError(
            "--action goes with --event ID: delete or disable is chosen per account"
        )
    _, streamed = review.read_decided(plan_file)
    check_action([e for e in streamed if e["id"] in events], action)


@plan_group.command(name="reject")
@_decision_options
@_until_option
def reject(
    plan_file: Path,
    events: tuple[str, ...],
    all_pending: bool,
    by: str | None,
    comment: str | None,
    key_path: Path | None,
    until: datetime | None,
    **selector_options: tuple[str, ...],
) -> None:
    """Reject events of PLAN that need approval: one line in PLAN's decisions ledger.

    A rejection is remembered: the next compare of the same config proposes
    the same change again only after --until (or once revoked).

    --all rejects every pending event; events already approved or rejected
    keep their decision (name one with --event to change it). Prints the ids
    decided.

    A selector decides the pending events of a kind: --response, --situation,
    --operation, --attribute, --account GLOB, --rule. Options combine with AND;
    a repeated option ORs its values. It first prints how many events it hits,
    by operation and by response, and those it skips (already decided, auto).
    A selector that hits nothing is an error and writes nothing. --event,
    --all and a selector exclude each other.

    Example: recondiff plan reject out/plan.jsonl --all --by "J. Smith" --comment "not this week"

    Example: recondiff plan reject out/plan.jsonl --operation disable --account 'svc-*' --by J.Smith
    """
    request = _request("rejected", by, comment, key_path, until)
    _decide(request, plan_file, events, all_pending, selector_options)


@plan_group.command(name="accept")
@_decision_options
@_until_option
def accept(
    plan_file: Path,
    events: tuple[str, ...],
    all_pending: bool,
    by: str | None,
    comment: str | None,
    key_path: Path | None,
    until: datetime | None,
    **selector_options: tuple[str, ...],
) -> None:
    """Accept what events of PLAN would change: keep the endpoint's value (or account) as it is.

    Unlike reject, accept may name auto events (apply then leaves them alone),
    and it needs a reason (--comment). The next compare of the same config
    recognises the same finding (account, situation, attribute, values) and
    proposes nothing for it, listing it under "accepted", until --until or a
    revoke (recondiff exceptions revoke); another value is a new finding.
    An event without findings (an identity policy's change, a membership of
    an account the plan creates) cannot be accepted: approve or reject it.

    Example: recondiff plan accept out/plan.jsonl --event ev-0123456789abcdef --by J.Smith
    --comment "CHG-42: kept for the audit" --until 2027-01-31
    """
    if not (comment or "").strip():
        raise click.UsageError("accept needs the reason: --comment TEXT")
    request = _request("accepted", by, comment, key_path, until)
    _decide(request, plan_file, events, all_pending, selector_options)


@plan_group.command(name="export-decisions")
@_plan_argument
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The CSV to write.",
)
@click.option("--bom", is_flag=True, help="Start with a UTF-8 byte-order mark (for Excel).")
def export_decisions(plan_file: Path, out: Path, bom: bool) -> None:
    """Write a decisions sheet (CSV): one row per event of PLAN that needs approval.

    Fill the decision (approved/rejected), by and comment columns, then run
    import-decisions. Cells a spreadsheet would run as a formula are written
    with a leading ' (see recondiff/io/csvsafe.py).

    Example: recondiff plan export-decisions out/plan.jsonl -o decisions.csv --bom
    """
    rows = review.export_decisions(plan_file, out, bom=bom)
    click.echo(f"recondiff: wrote {_plural(rows, 'event')} to {out}", err=True)


@plan_group.command(name="import-decisions")
@_plan_argument
@click.argument("sheet", metavar="DECISIONS_CSV", type=click.Path(path_type=Path))
@click.option("--by", "by", metavar="NAME", help="Approver for rows whose by column is blank.")
@key_option(
    help="Sign the decisions with this Ed25519 private key (docs/signing.md); every "
    "row's by must then be the name the key is trusted under.",
    envvar="RECONDIFF_KEY",
)
def import_decisions(
    plan_file: Path, sheet: Path, by: str | None, key_path: Path | None
) -> None:
    """Apply the decision, by and comment columns of a decisions sheet to PLAN.

    Refuses the whole sheet (PLAN unchanged) if PLAN changed since the
    export, or on any unknown id, bad decision or missing approver. A blank
    decision leaves its event as it is. Prints each event decided.

    Example: recondiff plan import-decisions out/plan.jsonl decisions.csv --by "Change board"
    """
    sign = _request("approved", by or "-", None, key_path).sign
    result = review.import_decisions(plan_file, sheet, by, sign=sign)
    for event_id, decision in result.decided:
        click.echo(f"{event_id}\t{decision}")
    click.echo(
        f"recondiff: {_plural(len(result.decided), 'decision')} applied to {plan_file}; "
        f"{result.unchanged} already in the plan, {result.blank} left blank",
        err=True,
    )


@plan_group.command(name="feed")
@_plan_argument
@click.option(
    "-o",
    "--output",
    "outdir",
    required=True,
    metavar="DIR",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory for repository_changes.csv and .jsonl (created if needed).",
)
@click.option("--bom", is_flag=True, help="Start the CSV with a UTF-8 byte-order mark (for Excel).")
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A recondiff.toml whose [trust] keys count (with --trust's), and its [plan] "
    "limits when stricter.",
)
@click.option(
    "--allow-modifies",
    "allow_modifies",
    type=click.IntRange(min=0),
    metavar="N",
    help="Accept up to N repository events over the safety limits (max_modifies, "
    "max_modify_percent of the repository's rows).",
)
@signature_options
def feed(
    plan_file: Path,
    outdir: Path,
    bom: bool,
    config_path: Path | None,
    allow_modifies: int | None,
    trust_files: tuple[Path, ...],
    allow_unsigned: bool,
    decisions_head: str | None,
) -> None:
    """Write PLAN's repository changes for the identity system to import.

    DIR/repository_changes.csv and DIR/repository_changes.jsonl hold one row
    per change of every repository event (update_repository,
    add_to_repository, link, unlink, delete_from_repository,
    assign_default_user) that is auto or approved. Pending and rejected
    events are left out. In the CSV, values is a JSON array. Like apply, the
    plan and its decisions must be signed by keys of --trust or of the
    [trust] of the config given with -c, unless --allow-unsigned. More
    events than the plan's max_modifies, or than max_modify_percent of the
    repository's rows, are refused (nothing written) unless --allow-modifies.

    Example: recondiff plan feed out/plan.jsonl -o out/feed --trust trust.toml
    """
    from recondiff.config.load import load_config

    given = load_config(config_path) if config_path is not None else None
    trust = load_trust(trust_files, given.trust if given is not None else None)
    result = review.write_feed(
        plan_file,
        outdir,
        bom=bom,
        trust=trust,
        allow_unsigned=allow_unsigned,
        decisions_head=decisions_head,
        allow_modifies=allow_modifies,
        config=given,
    )
    click.echo(
        f"recondiff: wrote {_plural(result.rows, 'change')} of "
        f"{_plural(result.events, 'event')} to {result.csv_path} and {result.jsonl_path.name}; "
        f"{result.left_out} pending or rejected left out",
        err=True,
    )


@plan_group.command(name="ldif")
@_plan_argument
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    metavar="FILE",
    help="The LDIF change file to write ('-' for stdout).",
)
@config_option("the one the plan names, when it is there")
@mass_change_options("the safety limits")
@signature_options
@click.option(
    "--allow-delete",
    "allow_delete",
    is_flag=True,
    help="Write the deletes a reviewer chose (approve --action delete) where the plan "
    "proposed to disable the account.",
)
def ldif(
    plan_file: Path,
    out: str,
    config_path: Path | None,
    allow: dict[str, int | None],
    trust_files: tuple[Path, ...],
    allow_unsigned: bool,
    decisions_head: str | None,
    allow_delete: bool,
) -> None:
    """Write PLAN's approved and auto endpoint events as an LDIF change file for ldapmodify.

    Refused, like apply, when the plan changes more than its mass-change
    limits (one line per limit, with the flag that accepts it), and when the
    plan or a decision is not signed by a trusted key (--trust, or the [trust]
    of the config given with -c), unless --allow-unsigned.

    Example: recondiff plan ldif out/plan.jsonl -o changes.ldif
    """
    # Imported here: the LDIF writer is its own module (and its own engineer's).
    from recondiff.config.load import load_config
    from recondiff.plan.ldif_export import plan_to_ldif
    from recondiff.plan.trust import load_verified

    given = load_config(config_path) if config_path is not None else None
    trust = load_trust(trust_files, given.trust if given is not None else None)
    plan, _ = load_verified(
        plan_file, trust, allow_unsigned=allow_unsigned, expect_head=decisions_head
    )
    if config_path is None and Path(plan["config"]["path"]).is_file():
        # As apply does: the config the plan names, as it reads now, so that a plan
        # edited to drop a protected key or raise a limit is still held to it.
        config_path = Path(plan["config"]["path"])
    config = load_config(config_path) if config_path is not None else None
    try:
        text = plan_to_ldif(plan, allow=allow, config=config, allow_delete=allow_delete)
    except SafetyError as exc:
        safety_exit(exc)
    if out == "-":
        click.echo(text, nl=False)
    else:
        write_text_atomically(Path(out), text, "the LDIF file")
