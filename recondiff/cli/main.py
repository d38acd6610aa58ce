"""The command line: parse, call the library, map errors to exit codes.

stdout is data (counts, JSON); stderr is diagnostics (errors, warnings,
progress). Exit codes are an API (:class:`recondiff.errors.ExitCode`):
0 in sync, 1 differences found, 2 usage/config/input error (a full disk
included), 3 internal error (a bug: one line, the traceback with --debug or
RECONDIFF_DEBUG=1), 130 interrupted (SIGINT), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from recondiff import __version__
from recondiff.cli.apply import apply_command
from recondiff.cli.common import (
    debug_from_env,
    echo_err,
    internal_error,
    interruption,
    progress,
    sigterm_as_interrupt,
)
from recondiff.cli.exceptions import exceptions_group
from recondiff.cli.explore import explore_command
from recondiff.cli.keys import keys_group
from recondiff.cli.notify import (
    FAILURE_HOOK,
    after_run,
    notify_group,
    on_failure,
    say_unverified,
)
from recondiff.cli.plan import plan_group
from recondiff.cli.plan_assign import assign_command
from recondiff.cli.report import report_command
from recondiff.errors import ExitCode, InputError, RecondiffError, first_line, no_space
from recondiff.history import History, history_path
from recondiff.ingest import snapshot as snapshot_mod
from recondiff.io import csvsafe
from recondiff.vocabulary import SITUATIONS


class _Cli(click.Group):
    """Turns library errors into one line on stderr and the documented exit code.

    A :class:`RecondiffError` (the user's to fix) and a full disk exit 2; Ctrl-C
    130 and SIGTERM 143, after every clean-up ran; anything else is a bug: one
    line saying so and where to report it, exit 3 (never 1, which means
    "differences found"), the traceback only with --debug or RECONDIFF_DEBUG=1.
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # click's own usage errors print three lines (Usage/Try/Error); the
        # contract is one line on stderr and exit 2.
        kwargs["standalone_mode"] = False
        with sigterm_as_interrupt():
            try:
                code = super().main(*args, **kwargs)
            except click.exceptions.NoArgsIsHelpError as exc:
                # a bare `recondiff` or `recondiff plan`: the help, not "error: Usage: ..."
                echo_err(exc.format_message(), err=True)
                sys.exit(ExitCode.USAGE)
            except click.UsageError as exc:
                where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
                echo_err(f"recondiff: error: {exc.format_message()}{where}", err=True)
                sys.exit(ExitCode.USAGE)
            except click.ClickException as exc:
                echo_err(f"recondiff: error: {exc.format_message()}", err=True)
                sys.exit(exc.exit_code)
            except (click.Abort, KeyboardInterrupt):
                sys.exit(interruption())
            except Exception as exc:  # raised before a command ran (invoke maps the rest)
                sys.exit(internal_error(exc, debug_from_env()))
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return self._invoke(ctx)
        except click.exceptions.Exit as exc:
            # a run that failed after its config loaded: [[notify]] on failure
            # hears of it, after the one-line error (cli/notify.after_failure)
            if exc.exit_code in (ExitCode.USAGE, ExitCode.INTERNAL) and FAILURE_HOOK in ctx.meta:
                try:
                    ctx.meta.pop(FAILURE_HOOK)(exc.exit_code, exc.__context__)
                except KeyboardInterrupt:  # Ctrl-C or SIGTERM while it is sent
                    ctx.exit(interruption())
            raise

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RecondiffError as exc:
            echo_err(f"recondiff: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            ctx.exit(interruption())
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise  # click's own flow (Exit and Abort are RuntimeErrors)
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                # stdout closed early (| head): quietly, and never 1 (click's
                # code, which means "differences found"); stdout goes to
                # /dev/null so that the exit's flush does not fail again.
                with contextlib.suppress(OSError, ValueError):
                    devnull = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(devnull, sys.stdout.fileno())
                ctx.exit(ExitCode.BROKEN_PIPE)
            if not no_space(exc):
                ctx.exit(internal_error(exc, bool(ctx.params.get("debug")) or debug_from_env()))
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            echo_err(
                f"recondiff: error: {where}no space left on device; free some space "
                "(or write elsewhere) and run again",
                err=True,
            )
            ctx.exit(ExitCode.USAGE)
        except Exception as exc:
            if str(exc).strip().lower() == "query interrupted":  # DuckDB's word for Ctrl-C
                ctx.exit(interruption())
            if no_space(exc):  # DuckDB's (or Arrow's) words for a full disk nobody mapped
                echo_err(
                    f"recondiff: error: {first_line(exc)}; free some space (or write "
                    "elsewhere) and run again",
                    err=True,
                )
                ctx.exit(ExitCode.USAGE)
            ctx.exit(internal_error(exc, bool(ctx.params.get("debug")) or debug_from_env()))


@click.group(name="recondiff", cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="recondiff")
@click.option(
    "--debug",
    is_flag=True,
    help="On an internal error (exit 3), print the traceback too (also: RECONDIFF_DEBUG=1).",
)
def cli(debug: bool) -> None:
    """Reconcile what an identity system believes against what an endpoint holds.

    \b
    Exit status (every command):
      0    success; for compare: everything in sync
      1    compare: differences found; apply: some events stale or failed
      2    usage, config or input error, or a full disk (one line on stderr)
      3    internal error: a bug in recondiff; report it with the --debug output
      130  interrupted (Ctrl-C)
      141  stdout closed before the output was written (| head)
      143  terminated (SIGTERM)
    An interrupted or failed run leaves the previous outputs as they were.

    Example: recondiff compare -c sample_data/recondiff.toml -o out
    """


@cli.command()
@click.option(
    "-c",
    "--config",
    "config_path",
    required=True,
    type=click.Path(path_type=Path),
    help="The recondiff.toml to run.",
)
@click.option(
    "-o",
    "--output",
    "outdir",
    required=True,
    type=click.Path(path_type=Path),
    help="Directory for summary.json, situations.* and drift.* (created if needed).",
)
@click.option("--allow-empty", is_flag=True, help="Accept an input with no records.")
@click.option(
    "--allow-shrink",
    is_flag=True,
    help="Accept a snapshot with more than [plan] max_shrink_percent (10%) fewer records "
    "than in the previous run.",
)
@click.option(
    "--state",
    "state_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory of the run history (history.duckdb); default: the output directory.",
)
@click.option(
    "--since-last",
    is_flag=True,
    help="[endpoint.source]: read only the entries changed since the last explore "
    "(an incremental run: nothing is missing; docs/explore.md).",
)
@click.option(
    "--since",
    "since_text",
    metavar="TIME",
    help="[endpoint.source]: read only the entries changed since TIME (ISO 8601).",
)
@click.option(
    "--offline",
    is_flag=True,
    help="Contact no server: re-run on the newest snapshots kept in OUTDIR/snapshots/.",
)
@click.option(
    "--endpoint-snapshot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Use this snapshot instead of [endpoint.source] (or [endpoint] snapshot).",
)
@click.option(
    "--repository-snapshot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Use this snapshot instead of [repository.source] (or [repository] snapshot).",
)
@click.option("--json", "as_json", is_flag=True, help="Print summary.json to stdout.")
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="No progress or warnings on stderr, but those nobody may miss: TLS verification "
    "off, stale inputs, a notification not sent.",
)
def compare(
    config_path: Path,
    outdir: Path,
    allow_empty: bool,
    allow_shrink: bool,
    state_dir: Path | None,
    since_last: bool,
    since_text: str | None,
    offline: bool,
    endpoint_snapshot: Path | None,
    repository_snapshot: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Run one reconciliation: classify every account and list every drift.

    Exit status: 0 everything in sync, 1 differences found, 2 bad
    usage/config/input (or a full disk; the previous outputs stay as they
    were), 3 internal error (a bug: report it with the --debug output), 130
    interrupted (Ctrl-C), 143 terminated (SIGTERM).

    Example: recondiff compare -c sample_data/recondiff.toml -o out
    """
    from recondiff import compare as compare_mod  # here: the other commands start faster
    from recondiff.config.load import load_config

    if since_last and since_text:
        raise click.UsageError("give --since-last or --since, not both")
    if offline and (since_last or since_text):
        raise click.UsageError("--offline reads no server; --since-last and --since read one")
    explore = compare_mod.ExploreOptions(
        since_last=since_last,
        since=_parse_time(since_text, "--since") if since_text else None,
        offline=offline,
        endpoint_snapshot=endpoint_snapshot,
        repository_snapshot=repository_snapshot,
    )
    cfg = load_config(config_path)
    say_unverified(cfg)  # [[notify]] with verify=no: said even with -q
    on_failure(cfg, outdir, quiet)  # from here on, a failed run is told to [[notify]]
    result = compare_mod.compare(
        cfg,
        outdir,
        allow_empty=allow_empty,
        progress=progress(quiet),
        state_dir=state_dir,
        allow_shrink=allow_shrink,
        explore=explore,
    )
    # TLS off and stale inputs: said even with -q
    loud = [w for w in result.warnings if "verification is OFF" in w or w in result.stale]
    for warning in loud if quiet else result.warnings:
        click.echo(f"recondiff: warning: {warning}", err=True)
    after_run(cfg, result, quiet)  # [[notify]]: never changes the exit code
    summary = result.summary
    if as_json:
        click.echo(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        for situation in SITUATIONS:
            click.echo(f"{situation}\t{summary['situations'][situation]}")
        click.echo(f"drifted\t{summary['sync']['drifted']}")
    click.get_current_context().exit(result.exit_code)


@cli.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="The snapshot Parquet file to write.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(snapshot_mod.FORMATS),
    help="Input format (default: from the file extension).",
)
@click.option(
    "-m",
    "--multi-valued",
    "multi_valued",
    multiple=True,
    metavar="ATTR",
    help="A column holding several values (repeatable).",
)
@click.option("--separator", default=";", show_default=True, help="Multi-valued separator in CSV.")
@click.option(
    "--delimiter",
    metavar="CHAR",
    help='CSV field delimiter (default ","; ";" as Export-Csv -UseCulture writes; "tab").',
)
@click.option(
    "--captured-at",
    "captured_at",
    metavar="ISO8601",
    help="When the export was taken (default: the file's modification time).",
)
@click.option("--allow-empty", is_flag=True, help="Accept an export with no records.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
def ingest(
    source: Path,
    out: Path,
    fmt: str | None,
    multi_valued: tuple[str, ...],
    separator: str,
    delimiter: str | None,
    captured_at: str | None,
    allow_empty: bool,
    quiet: bool,
) -> None:
    """Turn an export (CSV, LDIF, JSON Lines, Parquet) into a snapshot.

    Prints the snapshot's metadata as JSON on stdout.

    Example: recondiff ingest exports/ad-users.ldif -o snapshots/ad.parquet
    """
    when = _parse_time(captured_at) if captured_at else None
    from recondiff.ingest import exports as ingest_mod  # loads pyarrow: only this command needs it

    options = snapshot_mod.ReadOptions(
        multi_valued=multi_valued,
        separator=separator,
        allow_empty=allow_empty,
        delimiter=_parse_delimiter(delimiter),
    )
    say = progress(quiet)
    if say:
        say(f"reading {source}")
    info = ingest_mod.ingest(source, out, fmt, options, captured_at=when)
    if say:
        click.echo(f"recondiff: wrote {info.rows} records to {out}", err=True)
    click.echo(json.dumps(info.as_json(), indent=2))


@cli.command()
@click.option(
    "--state",
    "state_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("out"),
    show_default=True,
    help="The directory holding history.duckdb (compare's --state, or its -o).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
def history(state_dir: Path, as_json: bool) -> None:
    """List the recorded runs, newest first: when, which config, what was found.

    Example: recondiff history --state out
    """
    path = history_path(state_dir, None)
    if not path.exists():
        raise InputError(
            f"{path}: no run history here; pass --state DIR (compare's --state, or its -o)"
        )
    runs = History(path).runs()
    if as_json:
        click.echo(
            json.dumps(
                [
                    r | {"started_at": r["started_at"].isoformat(),
                         "finished_at": r["finished_at"].isoformat()}
                    for r in runs
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    header = ("run", "finished", "endpoint", "repository", "differences", "drifted", "config")
    rows = [
        (
            r["run_id"],
            r["finished_at"].isoformat(timespec="seconds"),
            r["summary"]["run"]["endpoint"],
            r["summary"]["run"]["repository"],
            str(r["summary"]["differences"]),
            str(r["summary"]["drift"]["accounts"]),
            r["config_path"],
        )
        for r in runs
    ]
    if not sys.stdout.isatty():  # data for scripts: tab-separated, no padding
        for row in (header, *rows):
            click.echo("\t".join(row))
        return
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def _parse_delimiter(text: str | None) -> str | None:
    """--delimiter's value: one character, "tab" and "\\t" (as typed) for a tab."""
    if text in ("\\t", "tab"):
        return "\t"
    if text is not None and not csvsafe.is_delimiter(text):
        raise InputError(f"--delimiter: must be {csvsafe.DELIMITER_RULE}, got {text!r}")
    return text


def _parse_time(text: str, option: str = "--captured-at") -> datetime:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 time like 2026-11-23T08:00:00Z",
            param_hint=option,
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


# Commands kept in their own modules (still CLI-only code: parse, call, map).
cli.add_command(plan_group)
plan_group.add_command(assign_command)  # plan assign (docs/plan.md, Owners)
cli.add_command(apply_command)
cli.add_command(report_command)
cli.add_command(keys_group)
cli.add_command(exceptions_group)
cli.add_command(explore_command)  # recondiff explore (docs/explore.md)
cli.add_command(notify_group)  # recondiff notify test (docs/notify.md)


def main() -> None:
    cli(prog_name="recondiff")


if __name__ == "__main__":
    main()
