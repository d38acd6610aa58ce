"""Active Directory's values as text (docs/explore.md, "Active Directory").

The LDAP reader (:mod:`recondiff.ingest.ldap_read`, with ``LdapRead.ad``) passes
every attribute's raw values through :func:`decode_values`, follows ranged
attributes (``member;range=0-1499``) with :func:`ranged_values`, and adds the
columns of :func:`derived_columns` to each entry:

* ``objectGUID`` (16 bytes, the first three fields little-endian, MS-DTYP 2.3.4)
  as AD shows it: ``xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx``, lower case;
* ``objectSid`` (MS-DTYP 2.4.2) as ``S-1-5-21-...``;
* FILETIME attributes (100 ns ticks since 1601-01-01 UTC) and GeneralizedTime
  attributes as ISO 8601 UTC timestamps (``2024-01-15T10:30:00Z``); a FILETIME
  of 0 or 0x7FFFFFFFFFFFFFFF is written ``never``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from recondiff.errors import InputError
from recondiff.vocabulary import UAC_FLAGS, attribute_type

GUID_ATTRIBUTES = frozenset({"objectguid", "ms-ds-consistencyguid", "msexchmailboxguid"})
SID_ATTRIBUTES = frozenset({
    "objectsid", "sidhistory", "securityidentifier", "tokengroups",
    "tokengroupsglobalanduniversal", "tokengroupsnogcacceptable",
})
FILETIME_ATTRIBUTES = frozenset({
    "lastlogontimestamp", "pwdlastset", "accountexpires", "lastlogon", "lastlogoff",
    "badpasswordtime", "lockouttime", "msds-userpasswordexpirytimecomputed",
})
GENERALIZED_TIME_ATTRIBUTES = frozenset({
    "whencreated", "whenchanged", "createtimestamp", "modifytimestamp",
})

NEVER = "never"
"""How a FILETIME of 0 or 0x7FFFFFFFFFFFFFFF ("never") is written."""
_NEVER_TICKS = (0, 0x7FFFFFFFFFFFFFFF)
_EPOCH_1601 = datetime(1601, 1, 1, tzinfo=UTC)
_GENERALIZED = re.compile(
    r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:[.,](\d{1,7}))?(Z|[+-]\d{4})?"
)
_UAC_NUMBER = re.compile(r"-?[0-9]{1,10}|0[xX][0-9A-Fa-f]{1,8}")
_RANGE = re.compile(r"range=(\d+)-(\d+|\*)", re.IGNORECASE)
MAX_RANGE_REQUESTS = 100_000
"""Ranged retrieval stops with an error after this many requests for one value
(150 million values at AD's 1,500 a range): a server that never ends its ranges."""
MAX_RANGED_VALUES = 5_000_000
"""... or after this many values of one attribute of one entry (AD's largest groups
hold about a million members; a server can put any number of values in a range)."""
MAX_RANGED_BYTES = 1 << 30
"""... or after this many bytes of them (1 GiB): memory is the limit, not requests."""


# --- decoders --------------------------------------------------------------------------


def decode_values(name: str, values: Sequence[bytes]) -> list[str] | None:
    """``values`` of attribute ``name`` in their canonical text form when ``name`` is
    one of AD's special attributes (objectGUID, objectSid, FILETIME and
    GeneralizedTime attributes); None otherwise (the usual text/base64 rule applies).
    A GUID or SID of the wrong shape raises InputError (one line); a time that does
    not parse is kept as its text."""
    kind = attribute_type(name)
    if kind in GUID_ATTRIBUTES:
        return [guid_text(name, v) for v in values]
    if kind in SID_ATTRIBUTES:
        return [sid_text(name, v) for v in values]
    if kind in FILETIME_ATTRIBUTES:
        return [filetime_text(_ascii(name, v)) for v in values]
    if kind in GENERALIZED_TIME_ATTRIBUTES:
        return [generalized_time_text(_ascii(name, v)) for v in values]
    return None


def guid_text(name: str, value: bytes) -> str:
    """A 16-byte GUID as AD shows it (``bf9679e7-0de6-11d0-a285-00aa003049e2``)."""
    if len(value) != 16:
        raise InputError(
            f"{name}: a GUID value of {len(value)} bytes, not 16; "
            "the server returned something that is not a GUID"
        )
    return str(uuid.UUID(bytes_le=bytes(value)))


def sid_text(name: str, value: bytes) -> str:
    """A binary SID (MS-DTYP 2.4.2.2) as its string form ``S-1-5-21-...``."""
    if len(value) < 8 or value[0] != 1 or len(value) != 8 + 4 * value[1] or value[1] > 15:
        raise InputError(
            f"{name}: a SID value of {len(value)} bytes that is not a binary SID "
            "(revision 1, 8 bytes + 4 per sub-authority)"
        )
    authority = int.from_bytes(value[2:8], "big")
    subs = [int.from_bytes(value[i : i + 4], "little") for i in range(8, len(value), 4)]
    # MS-DTYP 2.4.2.1: an authority of 2^32 or more is "0x" and 12 hex digits
    written = str(authority) if authority < 2**32 else f"0x{authority:012X}"
    return "-".join(["S-1", written, *map(str, subs)])


def _ascii(name: str, value: bytes) -> str:
    try:
        return bytes(value).decode("ascii").strip()
    except UnicodeDecodeError:
        raise InputError(
            f"{name}: a time value that is not ASCII text; the server returned garbage"
        ) from None


def _iso(moment: datetime, fraction: str = "") -> str:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = fraction.rstrip("0")
    return f"{text}.{fraction}Z" if fraction else f"{text}Z"


def filetime_text(text: str) -> str:
    """A FILETIME (100 ns ticks since 1601-01-01 UTC) as ISO 8601 UTC, to the tick;
    0 and 0x7FFFFFFFFFFFFFFF are ``never``; text that is no tick count stays as it is."""
    if not re.fullmatch(r"-?\d{1,19}", text):
        return text
    ticks = int(text)
    if ticks in _NEVER_TICKS:
        return NEVER
    if ticks < 0 or ticks > 0x7FFFFFFFFFFFFFFF:
        return text
    seconds, rest = divmod(ticks, 10_000_000)
    try:
        moment = _EPOCH_1601 + timedelta(seconds=seconds)
    except OverflowError:  # after 9999-12-31: no ISO 8601 year; keep the number
        return text
    return _iso(moment, f"{rest:07d}")


def generalized_time_text(text: str) -> str:
    """A GeneralizedTime (``20240115103000.0Z``, or with an offset ``+0200``) as ISO
    8601 UTC; text that is none stays as it is: an impossible date or time, an offset
    whose hour is over 23 or minute over 59 (RFC 4517 3.3.13), or a second 60 that is
    not a leap second (23:59:60 UTC). A leap second is written 23:59:59 (ISO 8601 UTC
    here has no second 60, nor have the date and timestamp kinds)."""
    m = _GENERALIZED.fullmatch(text)
    if m is None:
        return text
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    zone = m.group(8) or "Z"
    try:
        moment = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except ValueError:
        return text
    if zone != "Z":
        if int(zone[1:3]) > 23 or int(zone[3:5]) > 59:
            return text
        sign = 1 if zone[0] == "+" else -1
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
        try:
            moment -= sign * offset
        except OverflowError:
            return text
    if second == 60 and (moment.hour, moment.minute) != (23, 59):
        return text
    return _iso(moment, m.group(7) or "")


# --- userAccountControl -------------------------------------------------------------


def uac_flags(value: str | None) -> int | None:
    """The bits of a userAccountControl value: a decimal number (negative ones as
    AD's signed 32-bit spelling) or ``0x`` hex; None for no value or other text."""
    if value is None:
        return None
    text = value.strip()
    # what rd_uac_token (queries/macros/kinds.sql) reads as a number, ASCII digits
    # only: int() alone would also read "1_026" and other scripts' digits
    if _UAC_NUMBER.fullmatch(text) is None:
        return None
    number = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    if not -(2**31) <= number < 2**32:
        return None
    return number & 0xFFFFFFFF


def _first(entry: Mapping[str, list[str]], attribute: str) -> str | None:
    for name, values in entry.items():
        if attribute_type(name) == attribute and values:
            return values[0]
    return None


def derived_columns(entry: Mapping[str, list[str]]) -> dict[str, str | None]:
    """Columns derived from ``userAccountControl``: ``uac_disabled``,
    ``uac_locked_out``, ``uac_password_never_expires`` ("true"/"false", None without
    it or when it is not a number). Locked out also reads the LOCKOUT bit of
    ``msDS-User-Account-Control-Computed`` when the entry has it (AD keeps the
    lockout there; the bit in userAccountControl is rarely set)."""
    flags = uac_flags(_first(entry, "useraccountcontrol"))
    if flags is None:
        return {"uac_disabled": None, "uac_locked_out": None, "uac_password_never_expires": None}
    computed = uac_flags(_first(entry, "msds-user-account-control-computed")) or 0

    def bit(name: str, value: int) -> str:
        return "true" if value & UAC_FLAGS[name] else "false"

    return {
        "uac_disabled": bit("ACCOUNTDISABLE", flags),
        "uac_locked_out": bit("LOCKOUT", flags | computed),
        "uac_password_never_expires": bit("DONT_EXPIRE_PASSWORD", flags),
    }


# --- ranged retrieval -------------------------------------------------------------------


_Range = tuple[int, int | None, list[bytes]]


def _ranged(attribute: str, attrs: Mapping[str, list[bytes]]) -> _Range | None:
    """The ``attribute;range=lo-hi`` of a response: (lo, hi or None for ``*``, values)."""
    wanted = attribute_type(attribute)
    for name, values in attrs.items():
        if attribute_type(name) != wanted:
            continue
        for option in name.split(";")[1:]:
            m = _RANGE.fullmatch(option.strip())
            if m:
                high = None if m.group(2) == "*" else int(m.group(2))
                return int(m.group(1)), high, list(values)
    return None


def ranged_values(
    search: Callable[[str, list[str]], Mapping[str, list[bytes]]],
    dn: str,
    attribute: str,
    first: Mapping[str, list[bytes]],
) -> list[bytes]:
    """Every value of a multi-valued ``attribute`` the server returned in ranges
    (``member;range=0-1499``), following the ranges with base searches of ``dn``
    (``member;range=1500-*``, ...) until one ends in ``*``. ``first`` is the entry's
    attributes as first returned; without a range there, its plain values. A range
    that does not start where the last ended, holds a different number of values
    than it spans, or never ends raises InputError (one line)."""
    got = _ranged(attribute, first)
    if got is None:
        wanted = attribute_type(attribute)
        return [v for name, vs in first.items() if attribute_type(name) == wanted for v in vs]
    values: list[bytes] = []
    size = 0
    for _ in range(MAX_RANGE_REQUESTS):
        low, high, part = got
        if low != len(values):
            _bad_range(dn, attribute, f"range starting at {low} after {len(values)} values")
        values.extend(part)
        size += sum(len(v) for v in part)
        if len(values) > MAX_RANGED_VALUES or size > MAX_RANGED_BYTES:
            _bad_range(dn, attribute, f"over {MAX_RANGED_VALUES} values or "
                       f"{MAX_RANGED_BYTES >> 20} MiB")
        if high is None:
            return values
        if high < low or len(part) != high - low + 1:
            _bad_range(dn, attribute, f"range={low}-{high} holding {len(part)} values")
        request = f"{attribute};range={high + 1}-*"
        got = _ranged(attribute, search(dn, [request]))
        if got is None:
            _bad_range(dn, attribute, f"no {attribute};range=... in the answer to {request}")
    _bad_range(dn, attribute, f"still not ended after {MAX_RANGE_REQUESTS} requests")


def _bad_range(dn: str, attribute: str, what: str) -> NoReturn:
    raise InputError(
        f"{dn}: the server's ranged values of {attribute} are inconsistent ({what}); "
        "not reading a partial value list"
    )
