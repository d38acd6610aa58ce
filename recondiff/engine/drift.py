"""The drift phase: attribute drift of the linked and correlated pairs whose
attribute hashes differ (queries/drift/); every other pair is in sync."""

from __future__ import annotations

from recondiff.engine.fills import Fills
from recondiff.engine.steps import Session


def drift(session: Session, fills: Fills) -> None:
    session.step("drift/pairs")
    session.step("drift/differences", **fills.drift())
