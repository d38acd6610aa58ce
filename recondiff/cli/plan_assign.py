"""`recondiff plan assign`: choose the owner of an account (docs/plan.md, Owners).

One ledger line (decision ``assigned``, the identity) per command; the plan
never changes. The checks are :func:`recondiff.review.owners.choose_owner`'s.
"""

from __future__ import annotations

from pathlib import Path

import click

from recondiff.cli.keys import key_option, load_signer


@click.command(name="assign")
@click.argument("plan_file", metavar="PLAN", type=click.Path(path_type=Path))
@click.option("--event", "event_id", required=True, metavar="ID",
              help="The owner decision (response assign_owner) to settle.")
@click.option("--identity", required=True, metavar="KEY",
              help="The identity that owns the account: a candidate, or the default identity.")
@click.option("--by", "by", metavar="NAME",
              help="Who decides (recorded; default with --key: the key's name).")
@click.option("--comment", metavar="TEXT", help="Recorded with the decision.")
@click.option("--any-identity", is_flag=True,
              help="Accept an identity that is no candidate, if the repository snapshot the "
              "plan was made from holds it (read through the config).")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The recondiff.toml that names the repository snapshot, for "
              "--any-identity (default: the one the plan names).")
@key_option("The Ed25519 private key that signs the decision (docs/signing.md).")
def assign_command(
    plan_file: Path,
    event_id: str,
    identity: str,
    by: str | None,
    comment: str | None,
    any_identity: bool,
    config_path: Path | None,
    key_path: Path | None,
) -> None:
    """Choose the owner of the account of an owner decision of PLAN: one line
    in PLAN's decisions ledger. The identity must be one of the event's
    candidates or its default identity (plan show, or the decisions sheet's
    owner_candidates column, lists them); --any-identity accepts another
    identity of the repository snapshot. plan feed then writes the link, and
    the next compare of the same config sees the account linked.

    Example: recondiff plan assign out/plan.jsonl --event ev-0123456789abcdef --identity 100042
    --by "J. Smith"
    """
    from recondiff.io.signing import DECISION_PURPOSE
    from recondiff.plan import ledger
    from recondiff.plan.file import read_header
    from recondiff.review.decisions import read_decided
    from recondiff.review.owners import choose_owner, find_event

    signer = load_signer(key_path)
    if by is None:
        if signer is None:
            raise click.UsageError("say who decides: --by NAME (or sign with --key FILE)")
        by = signer.name
    header, events = read_decided(plan_file)
    event = find_event(events, event_id, plan_file)
    if event["approval"]["state"] == "rejected":
        raise click.UsageError(f"event {event_id} is rejected; approve it again to assign it")
    choice = choose_owner(
        event, identity, header, any_identity=any_identity, config_path=config_path
    )
    entry = ledger.Entry(
        "assigned", [choice.event_id], by, "--event", comment, identity=choice.identity
    )
    sign = (lambda raw: signer.sign(DECISION_PURPOSE, raw)) if signer is not None else None
    ledger.append(plan_file, read_header(plan_file), entry, sign)
    click.echo(choice.event_id)
    click.echo(
        f"recondiff: assigned {choice.identity} ({choice.source}) as the owner of "
        f"{event['object']['key']} in {plan_file}",
        err=True,
    )
