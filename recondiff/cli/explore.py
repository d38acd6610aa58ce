"""``recondiff explore``: read a live directory (or the identity database) into a
snapshot (docs/explore.md). Either from a config's ``[endpoint.source]`` /
``[repository.source]`` (``-c``), or from options alone (``--url --base``).

There is no ``--password``: a password on a command line is seen by every user
of the machine (``ps``) and kept in shell histories. It comes from an
environment variable (``--password-env VAR``) or a file (``--password-file F``).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from recondiff.cli.common import echo_err, progress
from recondiff.config.source import SEARCH_SCOPES, SourceConfig
from recondiff.errors import InputError

WHERE = "recondiff explore"


@click.command(name="explore")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Explore this config's [endpoint.source] (or --side repository).")
@click.option("--side", type=click.Choice(["endpoint", "repository"]), default="endpoint",
              show_default=True, help="With -c: which source to explore.")
@click.option("-o", "--output", "out", required=True, type=click.Path(path_type=Path),
              help="The snapshot Parquet file to write (atomically).")
@click.option("--since-last", is_flag=True,
              help="Only the entries changed since the last explore of the same source "
              "recorded in --state.")
@click.option("--since", "since_text", metavar="TIME",
              help="Only the entries changed since TIME (ISO 8601, such as 2026-12-01T00:00:00Z).")
@click.option("--state", "state_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Directory of history.duckdb, where the high-water marks are kept "
              "(default: the directory of -o).")
@click.option("--ca-file", type=click.Path(dir_okay=False, path_type=Path),
              help="CA bundle that verifies the server's certificate (default: the system's).")
@click.option("--insecure-skip-tls-verify", "insecure", is_flag=True,
              help="DANGEROUS: do not verify the server's certificate (a warning every run).")
@click.option("--url", help="Without -c: ldap://HOST:PORT (with --start-tls) or ldaps://HOST.")
@click.option("--base", help="Without -c: the search base DN.")
@click.option("--filter", "search_filter", default="(objectClass=*)", show_default=True,
              help="Without -c: the LDAP filter.")
@click.option("--search-scope", type=click.Choice(SEARCH_SCOPES), default="subtree",
              show_default=True, help="Without -c: the search scope.")
@click.option("--bind-dn", help="Without -c: bind as this DN (anonymous without).")
@click.option("--password-env", metavar="VAR",
              help="Without -c: the bind password is in this environment variable.")
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Without -c: the bind password is in this file.")
@click.option("--start-tls", is_flag=True, help="Without -c: StartTLS on an ldap:// URL.")
@click.option("--page-size", type=click.IntRange(1, 100_000), default=500, show_default=True,
              help="Without -c: simple paged results page size.")
@click.option("--size-limit", type=click.IntRange(min=0), default=0,
              help="Without -c: stop (exit 2) past this many entries; 0: none.")
@click.option("--time-limit", type=click.IntRange(0, 86_400), default=0,
              help="Without -c: seconds the server may search; 0: none.")
@click.option("--attribute", "attributes", multiple=True, metavar="ATTR",
              help="Without -c: read this attribute (repeatable; default: every user attribute).")
@click.option("--ad", is_flag=True,
              help="Without -c: Active Directory (AD value forms; uSNChanged for --since-last).")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
def explore_command(config_path: Path | None, side: str, out: Path, since_last: bool,
                    since_text: str | None, state_dir: Path | None, ca_file: Path | None,
                    insecure: bool, quiet: bool, **direct: Any) -> None:  # fmt: skip
    """Read a live directory into a snapshot, streamed in pages.

    Reads only the attributes the config needs (with -c), or those named with
    --attribute. Prints the snapshot's path, row count and source as JSON on
    stdout; exit 0, or 2 with one line for a refused bind, a bad base, a size
    or time limit, a referral or a TLS failure (no snapshot is left).

    Example: RD_PW=... recondiff explore -c recondiff.toml -o snapshots/ad.parquet
    """
    from recondiff.explore.side import explore_ldap, explore_side
    from recondiff.explore.state import since_last as last_mark
    from recondiff.explore.state import since_time
    from recondiff.history import History, history_path

    if since_last and since_text:
        raise click.UsageError("give --since-last or --since, not both")
    since = _since(since_text) if since_text else None
    state = state_dir if state_dir is not None else out.parent
    say = progress(quiet)
    report = _Progress(say)
    if config_path is not None:
        _no_direct_options(direct)
        from recondiff.config.load import load_config

        cfg = load_config(config_path)
        explored = explore_side(
            cfg, side, out, since_last=since_last, since=since, state=state,
            progress=report, ca_file=ca_file, insecure=insecure or None,
        )  # fmt: skip
    else:
        source = _direct_source(direct, ca_file, insecure)
        ad = bool(direct["ad"])
        lower = None
        if since_last:
            lower = last_mark(History(history_path(state, None)), source, ad, WHERE)
        elif since is not None:
            lower = since_time(since, ad)
        attributes = tuple(direct["attributes"]) or None
        explored = explore_ldap(source, "endpoint", out, attributes=attributes, ad=ad,
                                lower=lower, progress=report)  # fmt: skip
    for warning in explored.warnings:  # never silenced: TLS verification off, plain text
        echo_err(f"recondiff: warning: {warning}")
    if explored.record is not None:
        explored.record.record(History(history_path(state, None)))
    report.done(explored.info.rows)
    click.echo(json.dumps(explored.as_json(), indent=2))


class _Progress:
    """Entries and rate on stderr (a terminal, or RECONDIFF_PROGRESS=1), once a second."""

    def __init__(self, say: Any) -> None:
        self.say = say
        self.start = self.last = time.monotonic()

    def __call__(self, entries: int) -> None:
        now = time.monotonic()
        if self.say is not None and now - self.last >= 1.0:
            self.last = now
            self.say(f"explored {entries:,} entries ({entries / (now - self.start):,.0f}/s)")

    def done(self, entries: int) -> None:
        if self.say is not None:
            seconds = max(time.monotonic() - self.start, 1e-9)
            self.say(f"explored {entries:,} entries in {seconds:.1f} s "
                     f"({entries / seconds:,.0f}/s)")  # fmt: skip


_DIRECT = ("url", "base", "bind_dn", "password_env", "password_file", "start_tls",
           "attributes", "ad")  # fmt: skip


def _no_direct_options(direct: dict[str, Any]) -> None:
    given = [k for k in _DIRECT if direct.get(k)]
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise click.UsageError(f"{flags}: give these without -c; with -c the config's source says")


def _direct_source(direct: dict[str, Any], ca_file: Path | None, insecure: bool) -> SourceConfig:
    """The source the options name, checked as a config's would be."""
    url, base = direct["url"], direct["base"]
    if not url or not base:
        raise click.UsageError("give -c CONFIG, or --url and --base")
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
    except ValueError:
        raise click.UsageError(f"--url {url!r} is not a URL") from None
    if parts.scheme.lower() not in ("ldap", "ldaps"):
        raise click.UsageError("--url must start with ldap:// or ldaps://")
    if has_password:
        raise click.UsageError("--url holds a password; use --password-env or --password-file")
    if direct["start_tls"] and parts.scheme.lower() == "ldaps":
        raise click.UsageError("--start-tls is for ldap:// URLs; ldaps:// is TLS already")
    if direct["password_env"] and direct["password_file"]:
        raise click.UsageError("give --password-env or --password-file, not both")
    return SourceConfig(
        kind="ldap",
        url=url,
        where=WHERE,
        base=base,
        search_scope=direct["search_scope"],
        filter=direct["search_filter"],
        bind_dn=direct["bind_dn"],
        password_env=direct["password_env"],
        password_file=direct["password_file"],
        start_tls=bool(direct["start_tls"]),
        ca_file=ca_file,
        insecure_skip_tls_verify=insecure,
        page_size=direct["page_size"],
        size_limit=direct["size_limit"],
        time_limit=direct["time_limit"],
    )


def _since(text: str) -> datetime:
    from recondiff.explore.state import parse_time

    when = parse_time(text)
    if when is None:
        raise InputError(f"--since {text!r} is not a time like 2026-12-01T00:00:00Z")
    return when
