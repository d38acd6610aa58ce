"""`recondiff apply`: execute an approved plan over LDAP (part of the thin CLI; see cli.py)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from recondiff.cli_common import progress
from recondiff.errors import ExitCode, RecondiffError
from recondiff.review import _one_line as printable

if TYPE_CHECKING:
    from recondiff import apply as apply_mod


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
@click.option(
    "--allow-mass-change",
    "allow_mass_change",
    type=click.IntRange(min=0),
    metavar="N",
    help="Accept up to N deletes+disables over the plan's safety limits.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress or count line on stderr.")
def apply_command(
    plan_file: Path,
    url: str,
    bind_dn: str,
    password_env: str | None,
    password_file: Path | None,
    starttls: bool,
    ca_file: Path | None,
    journal: Path | None,
    dry_run: bool,
    allow_mass_change: int | None,
    quiet: bool,
) -> None:
    """Execute the approved and auto endpoint events of PLAN against an LDAP server.

    Prints one line per event (id, outcome, detail; tab-separated) and keeps a
    journal, so re-running the same command after a crash resumes without
    applying anything twice. The password is never taken on the command line.

    Exit status: 0 every event to run was applied, 1 some were stale or failed,
    2 usage/plan/safety/connection error, 130 interrupted.

    Example: recondiff apply out/plan.json --url ldap://dc1:389
    --bind-dn CN=svc,DC=example,DC=org --password-env RECON_PW
    """
    password = _password(password_env, password_file)
    from recondiff import apply as apply_mod  # ldap3 is imported only to apply

    target = apply_mod.LdapTarget(url, bind_dn, password, starttls=starttls, ca_file=ca_file)

    def show(outcome: apply_mod.EventOutcome) -> None:
        detail = printable(" ".join(outcome.message.split()))
        click.echo(f"{outcome.event_id}\t{outcome.outcome}\t{detail}")

    result = apply_mod.apply_plan(
        plan_file,
        target,
        journal_path=journal,
        dry_run=dry_run,
        allow_mass_change=allow_mass_change,
        progress=_escaped(progress(quiet)),
        after_event=show,
    )
    if not quiet:
        tally = ", ".join(f"{name} {n}" for name, n in result.counts().items()) or "no events"
        if dry_run:
            click.echo(f"recondiff: dry run, nothing written: {tally}", err=True)
        else:
            click.echo(f"recondiff: {tally} (journal {printable(str(result.journal))})", err=True)
    code = result.exit_code
    click.get_current_context().exit(ExitCode.IN_SYNC if code == 0 else code)
