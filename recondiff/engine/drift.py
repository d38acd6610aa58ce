"""The drift phase: attribute drift of the linked and correlated pairs whose
attribute hashes differ (queries/drift/); every other pair is in sync."""

from __future__ import annotations

from recondiff.engine.fills import Fills
from recondiff.engine.slots import Column, kinds_of, norm_of
from recondiff.engine.steps import Session


def drift(session: Session, fills: Fills) -> None:
    session.step("drift/pairs")
    session.step("drift/differences", **slots(fills))


def slots(fills: Fills) -> dict[str, str]:
    """The fills of queries/drift/differences.sql: each side's compared columns
    read as ``e1``..``eN`` and ``r1``..``rN`` (a single value as VARCHAR, a
    multi-valued one as VARCHAR[]), and one SELECT per attribute that keeps the
    pairs whose raw values differ, both sides as value lists."""
    pairs = list(zip(fills.ep_attrs, fills.repo_attrs, strict=True))
    return {
        "key": fills.ep_key.first(),
        "endpoint_columns": _columns(fills.ep_attrs, "e"),
        "repository_columns": _columns(fills.repo_attrs, "r"),
        "attributes": "\n    UNION ALL\n".join(
            _differing(i, ep, repo) for i, (ep, repo) in enumerate(pairs, 1)
        )
        or _differing(0, None, None),
        "norm": norm_of("raw", "compare", kinds_of(fills.cfg.attributes)),
    }


def _columns(columns: list[Column], side: str) -> str:
    return "".join(
        f",\n           {c.values() if c.is_list else c.text()} AS {side}{i}"
        for i, c in enumerate(columns, 1)
    )


def _differing(i: int, ep: Column | None, repo: Column | None) -> str:
    """Attribute #i's rows: its value lists where the raw values differ (two single
    values compare as they are, as their one-element lists would). With no
    attribute at all (i = 0), no row."""
    if ep is None or repo is None:
        return (
            "    SELECT ep_row, identity_key, situation, ep_key, CAST(NULL AS BIGINT) AS attr_idx,"
            " CAST(NULL AS VARCHAR[]) AS e_vals, CAST(NULL AS VARCHAR[]) AS r_vals"
            " FROM wide WHERE false"
        )
    e_vals = f"e{i}" if ep.is_list else f"[e{i}]"
    r_vals = f"r{i}" if repo.is_list else f"[r{i}]"
    differ = (
        f"{e_vals} IS DISTINCT FROM {r_vals}"
        if ep.is_list or repo.is_list
        else f"e{i} IS DISTINCT FROM r{i}"
    )
    return (
        f"    SELECT ep_row, identity_key, situation, ep_key, CAST({i} AS BIGINT) AS attr_idx,"
        f" {e_vals} AS e_vals, {r_vals} AS r_vals\n    FROM wide WHERE {differ}"
    )
