"""`recondiff keys`: make and show the Ed25519 keys that sign plans and
decisions (docs/signing.md), and the ``--trust`` / ``--key`` options the
commands that sign or verify share. recondiff.io.signing (and so
cryptography) is imported by the commands that use it only."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from recondiff.io.signing import Signer, Trust, TrustConfigLike

# recondiff.io.signing.ROLES, spelled here so that --help loads no cryptography
ROLES = ("plan", "decide")
_DEFAULT_DIRECTORY = Path("~/.ssh")


@click.group(name="keys")
def keys_group() -> None:
    """Signing keys: compare signs the plan, each decision is signed by its
    maker, apply and plan ldif verify both (docs/signing.md).

    Example: recondiff keys generate --name "J. Smith" --out ~/.ssh/recondiff_jsmith
    """


@keys_group.command("generate")
@click.option("--name", required=True, metavar="NAME", help="Whose key: its name in the trust.")
@click.option(
    "--out",
    "prefix",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the private key here and the public key to OUT.pub "
    "(default: ~/.ssh/recondiff_NAME). Never overwrites.",
)
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(ROLES),
    help="In the printed trust entry: plan (may sign plans: compare's key) or decide "
    "(may sign decisions: a reviewer's key); repeatable; default decide.",
)
def generate(name: str, prefix: Path | None, roles: tuple[str, ...]) -> None:
    """Make an Ed25519 key pair in OpenSSH format (as ssh-keygen -t ed25519 does)
    and print its trust-file entry on stdout. The private key is written with
    mode 0600, encrypted with $RECONDIFF_KEY_PASSPHRASE when that is set.

    Example: recondiff keys generate --name ci-compare --role plan --out keys/compare >> trust.toml
    """
    from recondiff.io.signing import PASSPHRASE_ENV, Signer

    if not name.strip() or not name.isprintable() or name != name.strip():
        raise click.BadParameter(
            f"{name!r}: give a one-line name without spaces around it", param_hint="--name"
        )
    if prefix is None:
        directory = _DEFAULT_DIRECTORY.expanduser()
        directory.mkdir(mode=0o700, exist_ok=True)
        prefix = directory / f"recondiff_{_slug(name)}"
    passphrase = os.environ.get(PASSPHRASE_ENV, "").encode("utf-8") or None
    signer = Signer.generate(name)
    public = signer.write(prefix, passphrase)
    protected = f", encrypted with ${PASSPHRASE_ENV}" if passphrase else ""
    click.echo(
        f"recondiff: wrote {prefix} (the private key{protected}: keep it secret, and off "
        f"the machine that stores plans) and {public}; key id {signer.key_id}. "
        "Add the entry below to the trust file of whoever verifies.",
        err=True,
    )
    click.echo(trust_entry(name, signer.public.line, roles or ("decide",)), nl=False)


@keys_group.command("show")
@click.argument("file", type=click.Path(path_type=Path))
def show(file: Path) -> None:
    """Print the id of a key (a .pub file or a private key file; no passphrase
    needed), as signatures and ssh-keygen -l name it.

    Example: recondiff keys show ~/.ssh/recondiff_jsmith.pub
    """
    from recondiff.io.signing import read_public_key

    click.echo(read_public_key(file).key_id)


def trust_entry(name: str, public: str, roles: Sequence[str]) -> str:
    """A trust file's ``[[key]]`` table (TOML strings as JSON writes them: the same escapes)."""
    return (
        "[[key]]\n"
        f"name = {json.dumps(name, ensure_ascii=False)}\n"
        f"public = {json.dumps(public, ensure_ascii=False)}\n"
        f"roles = {json.dumps(list(dict.fromkeys(roles)))}\n"
    )


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_.") or "key"


# -- the options of the commands that sign or verify (plan approve, apply, plan ldif) ---------


def trust_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--trust FILE`` (repeatable): trust files, given to the command as
    ``trust_files``; :func:`load_trust` adds the config's ``[trust]``."""
    return click.option(
        "--trust",
        "trust_files",
        multiple=True,
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="FILE",
        help="A trust file: the public keys allowed to sign plans and decisions "
        "(docs/signing.md); repeatable; adds to the [trust] of the config given with -c.",
    )(f)


def key_option(
    help: str = "The Ed25519 private key (OpenSSH format) that signs (docs/signing.md).",
    envvar: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--key FILE``: a private key, given to the command as ``key_path``
    (None when not given; :func:`load_signer` reads it)."""
    return click.option(
        "--key",
        "key_path",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="FILE",
        envvar=envvar,
        show_envvar=envvar is not None,
        help=help,
    )


def load_trust(trust_files: Sequence[Path], config_trust: TrustConfigLike | None) -> Trust:
    """The keys trusted: the ``--trust`` files and the ``[trust]`` of a config
    the user named (-c), never of one the plan names (docs/signing.md). Two
    entries with one key or one name: one ConfigError line."""
    from recondiff.io.signing import Trust

    trust = Trust.from_config(config_trust) if config_trust is not None else Trust()
    for file in trust_files:
        trust = trust + Trust.load(file)
    return trust


def load_signer(key_path: Path | None) -> Signer | None:
    """The signer of ``--key``, or None without one."""
    if key_path is None:
        return None
    from recondiff.io.signing import Signer

    return Signer.load(key_path)
