"""Choosing an account's owner (``plan assign``, docs/plan.md, Owners): the
checks of :mod:`recondiff.plan.choices`, with what they need from outside the
plan: the event itself, and for ``--any-identity`` the repository snapshot the
plan was made from."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb

from recondiff.config.load import Config, load_config
from recondiff.engine.confine import lock_down, open_connection
from recondiff.engine.resolve import Side, read_input
from recondiff.errors import InputError, first_line, printable
from recondiff.io.sqlfiles import macros, render
from recondiff.plan.choices import OwnerChoice, owner_choice
from recondiff.plan.file import Event


def find_event(events: Iterable[Event], event_id: str, source: Path | str) -> Event:
    """The event ``event_id`` of a plan's (streamed) events, read to the end (the
    digest and the ledger are checked once the iteration ends)."""
    found: Event | None = None
    for event in events:
        if event["id"] == event_id:
            found = event
    if found is None:
        raise InputError(f"{source}: no event {event_id}; recondiff plan show lists the events")
    return found


def plan_config(header: dict[str, Any], config_path: Path | None) -> Config:
    """The config given (``-c``), else the one the plan names, as it reads now."""
    path = config_path or Path(str(header["config"]["path"]))
    if not path.exists():
        raise InputError(
            f"{path}: the config the plan was made from is not there; pass it with -c/--config"
        )
    return load_config(path)


def repository_lookup(cfg: Config, header: dict[str, Any]) -> Any:
    """A function giving the repository snapshot's spelling of a key (None: no such
    identity). The snapshot must be the one the plan was made from (its sha256):
    the identities a reviewer may choose are those the plan saw."""

    def lookup(identity: str) -> str | None:
        with tempfile.TemporaryDirectory(prefix="recondiff-assign-") as work:
            summary = read_input(cfg, "repository", Path(work), allow_empty=True)
            planned = header["inputs"]["repository"]["sha256"]
            if summary.sha256 != planned:
                raise InputError(
                    f"{summary.path}: not the repository snapshot plan {header['plan_id']} was "
                    "made from (its sha256 differs); --any-identity chooses among the "
                    "identities the plan saw: run compare again"
                )
            side = Side.read(summary.snapshot, summary.path, cfg.path)
            key = side.find(cfg.repository.key, "[repository] key")
            con = open_connection()
            try:
                lock_down(con, files=[summary.snapshot], directories=[])
                con.execute(macros())
                rows = con.execute(
                    render(
                        "plan/repository_identity", key=key.first(),
                        scope=cfg.repository.scope or "TRUE",
                    ),
                    {"repository_path": str(summary.snapshot), "identity": identity},
                ).fetchall()
            except duckdb.Error as exc:  # the [repository] scope of a config edited since
                raise InputError(
                    f"{cfg.path}: cannot look up {printable(identity[:80])} in the repository "
                    f"snapshot ({first_line(exc)}); check [repository] scope"
                ) from None
            finally:
                con.close()
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

    return lookup


def choose_owner(
    event: Event,
    identity: str,
    header: dict[str, Any],
    *,
    any_identity: bool = False,
    config_path: Path | None = None,
) -> OwnerChoice:
    """Check the owner ``identity`` for the owner decision ``event`` of the plan
    whose header is ``header`` (:func:`recondiff.plan.choices.owner_choice`);
    with ``any_identity``, an identity of the plan's repository snapshot, read
    through the config (``config_path``, else the plan's)."""
    lookup = None
    if any_identity:
        lookup = repository_lookup(plan_config(header, config_path), header)
    return owner_choice(event, identity, any_identity=any_identity, repository_key=lookup)
