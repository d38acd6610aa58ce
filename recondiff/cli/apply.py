"""`recondiff apply`: execute an approved plan over LDAP (part of the thin CLI; see main.py)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

from recondiff.cli.common import (
    config_option,
    mass_change_options,
    progress,
    safety_exit,
    signature_options,
)
from recondiff.cli.keys import load_trust
from recondiff.errors import ExitCode, RecondiffError, printable
from recondiff.plan.checks import SafetyError

if TYPE_CHECKING:
    from recondiff.apply.event import EventOutcome
    from recondiff.apply.runner import ApplyResult


def _loopback(url: str) -> bool:
    """The URL is ldaps:// or names this machine (localhost, 127.0.0.0/8, ::1)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return False
    if parts.scheme.lower() == "ldaps" or host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _password(env_var: str | None, password_file: Path | None) -> str:
    if env_var and password_file:
        raise click.UsageError("give only one of --password-env and --password-file")
    if env_var:
        value = os.environ.get(env_var, "")
        if not value:
            raise click.BadParameter(
                f"the environment variable {env_var} is empty or not set",
                param_hint="--password-env",
            )
        return value
    if password_file:
        try:
            text = password_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise click.BadParameter(
                f"{password_file}: cannot read it ({reason})", param_hint="--password-file"
            ) from None
        value = text[:-1] if text.endswith("\n") else text
        value = value[:-1] if value.endswith("\r") else value
        if not value:
            raise click.BadParameter(f"{password_file} is empty", param_hint="--password-file")
        return value
    raise click.UsageError("give the bind password with --password-env VAR or --password-file F")


class _Escaped(click.Command):
    """DNs, values and server messages come from the directory: whatever apply
    prints has its control characters escaped, as `plan show` does; so do its
    error lines (they may quote the server)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RecondiffError as exc:
            exc.args = (printable(str(exc)),)
            raise


def _escaped(show: Callable[[str], None] | None) -> Callable[[str], None] | None:
    return None if show is None else (lambda message: show(printable(message)))


@click.command(name="apply", cls=_Escaped)
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--url", required=True, help="ldap://HOST[:PORT] or ldaps://HOST[:PORT].")
@click.option("--bind-dn", "bind_dn", required=True, help="The DN to bind as (simple bind).")
@click.option(
    "--password-env",
    "password_env",
    metavar="VAR",
    help="Read the bind password from this environment variable.",
)
@click.option(
    "--password-file",
    "password_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the bind password from this file (one trailing newline is ignored).",
)
@click.option("--starttls", is_flag=True, help="Upgrade an ldap:// connection with StartTLS.")
@click.option(
    "--allow-plaintext",
    "allow_plaintext",
    is_flag=True,
    help="Send the password over ldap:// without TLS (anyone on the path can read it).",
)
@config_option("the one the plan names")
@click.option(
    "--ca-file",
    "ca_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CA certificates (PEM) to verify the server (default: the system's).",
)
@click.option(
    "--journal",
    "journal",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The journal to write and resume from (default: PLAN with .journal.jsonl).",
)
@click.option("--dry-run", is_flag=True, help="Check preconditions and print; write nothing.")
@mass_change_options("the plan's safety limits")
@signature_options
@click.option(
    "--allow-delete",
    "allow_delete",
    is_flag=True,
    help="Run the deletes a reviewer chose (approve --action delete) where the plan "
    "proposed to disable the account.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress or count line on stderr.")
def apply_command(
    plan_file: Path,
    url: str,
    bind_dn: str,
    password_env: str | None,
    password_file: Path | None,
    starttls: bool,
    allow_plaintext: bool,
    config_path: Path | None,
    ca_file: Path | None,
    journal: Path | None,
    dry_run: bool,
    allow: dict[str, int | None],
    trust_files: tuple[Path, ...],
    allow_unsigned: bool,
    decisions_head: str | None,
    allow_delete: bool,
    quiet: bool,
) -> None:
    """Execute the approved and auto endpoint events of PLAN against an LDAP server.

    Prints one line per event (id, outcome, detail; tab-separated) and keeps a
    journal, so re-running the same command after a crash resumes without
    applying anything twice. The password is never taken on the command line.

    The config in force (--config; default: the file the plan was made from, as
    it reads now) adds its protected keys, which are never touched, and each
    mass-change limit is the stricter of it and the plan's.

    The plan and every decision in its ledger must be signed by keys trusted by
    --trust FILE or the [trust] of the config given with -c (never the config
    the plan names); --allow-unsigned runs an unsigned plan (docs/signing.md).

    Exit status: 0 every event to run was applied, 1 some were stale, failed or
    in doubt, 2 usage/plan/safety/connection error, 3 internal error (a bug),
    130 interrupted, 143 terminated (SIGTERM).

    Example: recondiff apply out/plan.jsonl -c recondiff.toml --url ldaps://dc1:636
    --bind-dn CN=svc,DC=example,DC=org --password-env RECON_PW
    """
    password = _password(password_env, password_file)
    from recondiff.apply.runner import apply_plan  # ldap3 is imported only to apply
    from recondiff.apply.transport import LdapTarget
    from recondiff.config.load import load_config

    if allow_plaintext and not starttls and not _loopback(url):
        _warn_plaintext(url)
    config = load_config(config_path) if config_path is not None else None
    target = LdapTarget(
        url, bind_dn, password, starttls=starttls, ca_file=ca_file, allow_plaintext=allow_plaintext
    )
    try:
        result = apply_plan(
            plan_file,
            target,
            journal_path=journal,
            dry_run=dry_run,
            progress=_escaped(progress(quiet)),
            after_event=_show,
            config=config,
            allow=allow,
            config_from_plan=config is None,
            trust=load_trust(trust_files, config.trust if config is not None else None),
            allow_unsigned=allow_unsigned,
            decisions_head=decisions_head,
            keep_outcomes=False,  # each is printed as it settles: memory stays flat
            allow_delete=allow_delete,
        )
    except SafetyError as exc:
        safety_exit(exc)
    if not quiet:
        _tally(result)
    code = result.exit_code
    click.get_current_context().exit(ExitCode.IN_SYNC if code == 0 else code)


def _warn_plaintext(url: str) -> None:
    click.echo(
        f"recondiff: warning: --allow-plaintext: the bind password goes to {printable(url)} "
        "unencrypted; anyone on the network path can read it (use --starttls or ldaps://)",
        err=True,
    )


def _show(outcome: EventOutcome) -> None:
    """An event's outcome on stdout: id, outcome, detail (tab-separated)."""
    detail = printable(" ".join(outcome.message.split()))
    click.echo(f"{outcome.event_id}\t{outcome.outcome}\t{detail}")


def _tally(result: ApplyResult) -> None:
    """The count of each outcome on stderr (and the journal, unless a dry run)."""
    tally = ", ".join(f"{name} {n}" for name, n in result.counts().items()) or "no events"
    if result.dry_run:
        click.echo(f"recondiff: dry run, nothing written: {tally}", err=True)
    else:
        click.echo(f"recondiff: {tally} (journal {printable(str(result.journal))})", err=True)
