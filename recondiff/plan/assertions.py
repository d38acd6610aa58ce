"""The LDAP filters a plan's events are checked with, and the RFC 4528 assertion control.

Pure Python (no ldap3): ``recondiff plan ldif`` writes the same assertion
controls ``recondiff apply`` sends, without importing the LDAP client. The
control's BER encoding is pinned equal to ldap3's by tests/test_apply_assertions.py.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Sequence
from typing import Any

from recondiff.plan.file import Event
from recondiff.vocabulary import attribute_type

ASSERTION_CONTROL = "1.3.6.1.1.12"
"""RFC 4528: the operation is performed only if the entry matches a filter."""
_ATTRIBUTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)(?:;[A-Za-z0-9-]+)*\Z")
_FILTER_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,@+/")


def escape_filter_value(value: str) -> str:
    """RFC 4515 escaping; every byte outside a plain set is written ``\\hh``.

    Escaping spaces too keeps leading and trailing ones (ldap3's parser strips
    unescaped ones) and makes the filter unambiguous for any value.
    """
    return "".join(chr(b) if b in _FILTER_SAFE else f"\\{b:02x}" for b in value.encode("utf-8"))


def is_attribute_description(name: str) -> bool:
    """``name`` is an attribute type (name or OID) with options, nothing else."""
    return _ATTRIBUTE.match(name) is not None


def check_attribute(name: str) -> str:
    """``name`` itself, when it can go into a filter; else ValueError."""
    if not is_attribute_description(name):
        raise ValueError(f"{name!r} is not an LDAP attribute description")
    return name


def all_of(clauses: Sequence[str]) -> str | None:
    """The filter that holds when every clause does (None: no clause)."""
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else "(&" + "".join(clauses) + ")"


UUID_ATTRIBUTES = frozenset({"entryuuid", "objectguid"})
"""Attributes naming an entry for good: a DN re-used by another object has another one."""


def _guid_bytes(value: str) -> bytes | None:
    """AD's objectGUID as the 16 bytes it stores: from the GUID string
    (``Get-ADUser``'s ``ObjectGUID``, byte order of Windows) or base64 (ldifde)."""
    try:
        return uuid.UUID(value.strip().strip("{}")).bytes_le
    except ValueError:
        pass
    try:
        data = base64.b64decode(value, validate=True)
    except ValueError:
        return None
    return data if len(data) == 16 else None


def filter_value(attribute: str, value: str) -> str:
    """A value escaped for a filter on ``attribute`` (objectGUID: its binary form)."""
    if attribute.lower() == "objectguid":
        data = _guid_bytes(value)
        if data is not None:
            return "".join(f"\\{b:02x}" for b in data)
    return escape_filter_value(value)


def assertion_filter(preconditions: Sequence[dict[str, Any]]) -> str | None:
    """``(&(attr=v)…)``, with ``(!(attr=*))`` for an attribute that must be absent."""
    clauses: list[str] = []
    for condition in preconditions:
        name = check_attribute(condition["attribute"])
        if not condition["values"]:
            clauses.append(f"(!({name}=*))")
        clauses += [f"({name}={filter_value(name, v)})" for v in condition["values"]]
    return all_of(clauses)


def changes_filter(changes: Sequence[dict[str, Any]]) -> str | None:
    """A filter that holds once a modify's ``changes`` are in the entry (for resuming)."""
    clauses: list[str] = []
    for change in changes:
        name = check_attribute(change["attribute"])
        values = [escape_filter_value(v) for v in change["values"]]
        if change["op"] in ("add", "replace"):
            clauses += [f"({name}={v})" for v in values]
            if change["op"] == "replace" and not values:
                clauses.append(f"(!({name}=*))")
        elif values:
            clauses += [f"(!({name}={v}))" for v in values]
        else:
            clauses.append(f"(!({name}=*))")
    return all_of(clauses)


MEMBER_ATTRIBUTES = frozenset({"member", "uniquemember"})
"""Attributes holding a group's members by DN."""

MEMBER_LISTS = MEMBER_ATTRIBUTES | {"memberuid"}
"""Attributes holding a group's members (whose removals are counted one by one)."""

def membership_event(event: Event) -> bool:
    """An event that changes a group's member list (``object.member_of``, or ``member`` changes)."""
    if event["object"].get("member_of") is not None:
        return True
    return any(attribute_type(c["attribute"]) in MEMBER_ATTRIBUTES for c in event["changes"])


def split_preconditions(event: Event) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(for the assertion control, to check by a search first)``.

    OpenLDAP's memberof overlay (2.5) applies a group modify's assertion control
    to its own internal update of each member's ``memberOf`` too, where it does
    not hold, and then silently leaves ``memberOf`` stale. So a membership event
    carries no assertion: its preconditions are the member values it deletes,
    which the modify checks by itself (a value already gone fails with 16), and
    any other precondition is checked with a base search just before sending
    (not atomic). Other events send all their preconditions as the control.
    """
    preconditions = list(event["preconditions"])
    if not membership_event(event):
        return preconditions, []
    deleted: dict[str, set[str]] = {}
    for change in event["changes"]:
        if change["op"] == "delete":
            deleted.setdefault(attribute_type(change["attribute"]), set()).update(change["values"])
    rest = [
        c
        for c in preconditions
        if not c["values"]
        or not set(c["values"]) <= deleted.get(attribute_type(c["attribute"]), set())
    ]
    return [], rest


def assertion_control(preconditions: Sequence[dict[str, Any]]) -> tuple[str, bool, bytes] | None:
    """The RFC 4528 control for :func:`assertion_filter` of ``preconditions``:
    its BER-encoded Filter (RFC 4511), critical; None when there is nothing to assert.

    Encoded here from the preconditions, as ldap3 encodes the filter's text
    (tests/test_apply_assertions.py pins the two equal), so that writing LDIF
    needs no LDAP client."""
    clauses: list[bytes] = []
    for condition in preconditions:
        attribute = check_attribute(condition["attribute"])
        name = attribute.encode("utf-8")
        if not condition["values"]:
            clauses.append(_ber(_NOT, _ber(_PRESENT, name)))
        for value in condition["values"]:
            octets = _ber(_OCTETS, name) + _ber(_OCTETS, _assertion_value(attribute, value))
            clauses.append(_ber(_EQUALITY, octets))
    if not clauses:
        return None
    ber = clauses[0] if len(clauses) == 1 else _ber(_AND, b"".join(clauses))
    return (ASSERTION_CONTROL, True, ber)


# BER tags of the Filter choices used (RFC 4511 4.5.1), and of an OCTET STRING.
_AND, _NOT, _EQUALITY, _PRESENT, _OCTETS = 0xA0, 0xA2, 0xA3, 0x87, 0x04


def _ber(tag: int, content: bytes) -> bytes:
    """One BER TLV, its length in the shortest definite form."""
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def _assertion_value(attribute: str, value: str) -> bytes:
    """The bytes :func:`filter_value` escapes: objectGUID's binary form, else UTF-8."""
    if attribute.lower() == "objectguid":
        data = _guid_bytes(value)
        if data is not None:
            return data
    return value.encode("utf-8")
