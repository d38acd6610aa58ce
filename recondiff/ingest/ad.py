"""Active Directory's values as text (docs/explore.md, "Active Directory").

STUB (issue 17 contract, /work/explore-contract.md): the ad engineer fills this in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence


def decode_values(name: str, values: Sequence[bytes]) -> list[str] | None:
    """``values`` of attribute ``name`` in their canonical text form when ``name`` is
    one of AD's special attributes (objectGUID, objectSid, FILETIME and
    GeneralizedTime attributes); None otherwise (the usual text/base64 rule applies)."""
    return None


def derived_columns(entry: Mapping[str, list[str]]) -> dict[str, str | None]:
    """Columns derived from ``userAccountControl``: ``uac_disabled``,
    ``uac_locked_out``, ``uac_password_never_expires`` ("true"/"false", None without it)."""
    return {}


def ranged_values(
    search: Callable[[str, list[str]], Mapping[str, list[bytes]]],
    dn: str,
    attribute: str,
    first: Mapping[str, list[bytes]],
) -> list[bytes]:
    """Every value of a multi-valued ``attribute`` the server returned in ranges
    (``member;range=0-1499``), following the ranges with base searches of ``dn``."""
    return [v for values in first.values() for v in values]
