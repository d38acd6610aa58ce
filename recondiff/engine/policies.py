"""The policies phase: identity policies evaluated over every identity before
anything is compared (seed 003, docs/policies.md; queries/policies/).

The repository's columns are what an identity *is*; its policies say what it
should therefore *hold*. This phase resolves the ``[[policy]]`` tables against
the repository snapshot (:mod:`recondiff.engine.policy_rules`; the SQL is
:mod:`recondiff.engine.policy_slots`'s), runs up to ``[policies] max_recursion`` evaluation
passes in DuckDB (one statement per pass over all identities, no per-identity
Python), and writes the repository snapshot every later step reads instead of
the original: the same rows and columns, with the columns the policies change
(and the applied list) holding the final state. It also writes
``expected.parquet`` (why each value is expected), ``policies.parquet`` (the
applied lists, per identity) and ``policy_conflicts.csv``, and leaves in the
connection the tables the plan reads: ``policy_why``, ``policy_conflict`` and
``policy_change``.

Everything spliced into the SQL is a quoted column name, a type from the
short list of :mod:`recondiff.engine.policy_rules`, an index, an ``rd_*`` macro, or a config
``when``/``set_sql`` expression (checked like ``scope``); every name and value
is bound.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from recondiff.config.model import Config
from recondiff.engine.fills import Fills
from recondiff.engine.policy_rules import Resolved
from recondiff.engine.policy_slots import Slots
from recondiff.engine.publish import POLICY_FILES
from recondiff.engine.steps import Session
from recondiff.errors import InputError, InternalError, RecondiffError, first_line
from recondiff.io.sqlfiles import render

OUTPUTS = POLICY_FILES  # published by engine/publish.py; a run without policies has none


@dataclass
class PolicyRun:
    """What the phase made: the derived snapshot, the outputs in ``work``, the counts."""

    derived: Path
    outputs: dict[str, Path]
    summary: dict[str, int]

    def warnings(self, cfg: Config) -> list[str]:
        """What an operator must hear of even in a run nobody reads: conflicts,
        and policies the recursion limit left for the next sync."""
        out = []
        conflicts, pending = self.summary["conflicts"], self.summary["pending"]
        if conflicts:
            out.append(
                f"{cfg.path}: {conflicts} identity policy conflict(s): two policies set one "
                "attribute to different values; no value chosen, no event proposed "
                "(policy_conflicts.csv)"
            )
        if pending:
            out.append(
                f"{cfg.path}: {pending} identit{'y has' if pending == 1 else 'ies have'} "
                f"policies left for the next sync by [policies] max_recursion = "
                f"{cfg.policies.max_recursion} (policies.parquet, pending)"
            )
        return out

    def publish_into(self, staging: Path) -> None:
        """The outputs moved into the run's staging directory (engine/publish.py)."""
        for name, path in self.outputs.items():
            shutil.move(path, staging / name)


# --- the phase --------------------------------------------------------------------------


def apply_policies(session: Session, fills: Fills, cfg: Config, work: Path) -> PolicyRun | None:
    """Evaluate the config's policies over every identity (docs/policies.md) and
    write the derived repository snapshot into ``work``; None without policies
    (the plan's tables are then created empty)."""
    if not cfg.policies.policies:
        session.step("policies/none", {})
        return None
    resolved = Resolved(cfg, fills)
    slots = Slots(resolved)
    base = session.params | resolved.params()
    session.step("policies/state", base, **slots.state())
    fill = slots.pass_fills()
    passes, changed = 0, 0
    limit = cfg.policies.max_recursion
    for k in range(1, limit + 2):
        # pass k reads the identities pass k-1 changed (all of them first): an
        # identity no pass changed would only be evaluated to the same result
        with _culprit(session, resolved):
            session.step("policies/pass", base | {"pass": k}, **fill)
        (changed,) = session.step("policies/changed", {}).fetchall()[0]
        if k > limit:
            break
        session.step("policies/swap" if k == 1 else "policies/merge", {})
        if changed == 0:
            break
        passes = k
    if changed == 0:
        session.step("policies/eval_state", {})  # every identity is synchronised
    else:
        session.step("policies/eval_next", {})  # what the limit left for the next sync
    return _write(session, resolved, slots, base, work, passes)


@contextmanager
def _culprit(session: Session, r: Resolved) -> Iterator[None]:
    """A step that fails on the data names the [[policy]] whose `when` or `set_sql`
    fails (queries/policies/culprit.sql, each alone over the state), not only
    "a policy": with fifty of them, the operator must know which."""
    try:
        yield
    except (RecondiffError, InternalError):
        for i, p in enumerate(r.policies, 1):
            when = f"coalesce(CAST(({p.when}) AS BOOLEAN), false)"
            checks = [(f"when = {p.when!r}", when)]
            checks += [
                (f"set_sql {name} = {e!r}", f"CASE WHEN {when} THEN CAST(({e}) AS VARCHAR) END")
                for name, e in p.set_sql
            ]
            for what, expression in checks:
                try:
                    session.con.execute(render("policies/culprit", expression=expression))
                except duckdb.Error as exc:
                    raise InputError(
                        f"{r.fills.repo.file}: [[policy]] #{i} ('{p.name}') {what} fails on "
                        f"its data: {first_line(exc)}; fix the expression in {r.cfg.path} "
                        "or the data"
                    ) from None
        raise


def _write(
    session: Session, r: Resolved, slots: Slots, base: dict[str, Any], work: Path, passes: int
) -> PolicyRun:
    derived = work / "repository-policies.parquet"
    out = {name: work / f"policy-output-{name}" for name in OUTPUTS}
    key = r.key.first()
    params = base | {
        "derived_path": str(derived),
        "expected_path": str(out["expected.parquet"]),
        "policies_path": str(out["policies.parquet"]),
        "conflicts_path": str(out["policy_conflicts.csv"]),
        "applied_name": r.applied.name,
        "max_recursion": r.cfg.policies.max_recursion,
    }
    session.step("policies/derive", params, replace=slots.derive())
    with _culprit(session, r):
        session.step(
            "policies/expected",
            params,
            key=key,
            ok=slots.ok(),
            effects=slots.effects(),
        )
    session.step("policies/state_out", params, key=key, applied=r.applied.ident)
    session.step("policies/conflicts", params, key=key)
    session.step("policies/conflicts_csv", params)
    session.step("policies/changes", params, **slots.changes())
    session.step("policies/why_none", {})  # the planner fills it (policies/why.sql)
    summary = _summary(session, r, passes)
    session.step("policies/release", {})
    return PolicyRun(derived=derived, outputs=out, summary=summary)


def _summary(session: Session, r: Resolved, passes: int) -> dict[str, int]:
    row = session.step(
        "policies/summary",
        {"lower_names": [p.name.lower() for p in r.policies]},
    ).fetchall()[0]
    identities, allocated, deallocated, reallocated, pending, unknown, conflicts = row
    return {
        "policies": len(r.policies),
        "passes": passes,
        "identities_changed": int(identities),
        "allocated": int(allocated),
        "deallocated": int(deallocated),
        "reallocated": int(reallocated),
        "pending": int(pending),
        "conflicts": int(conflicts),
        "unknown_applied": int(unknown),
    }
