"""`recondiff apply`: execute an approved plan over LDAP (part of the thin CLI; see cli.py)."""

from __future__ import annotations

import click


@click.command(name="apply")
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False))
def apply_command(plan_file: str) -> None:
    """Execute the approved and auto endpoint events of PLAN against an LDAP server.

    Example: recondiff apply out/plan.json --url ldap://dc1:389
    --bind-dn CN=svc,DC=example,DC=org --password-env RECON_PW
    """
    raise click.UsageError("apply is not implemented yet")
