"""Decode search entries faster than ldap3 does, for :mod:`recondiff.ingest.ldap_read`.

ldap3 decodes each SearchResultEntry with its generic BER decoder, then builds
two case-insensitive dictionaries of it (the values as text, and raw): three
quarters of a read's time. A reader needs only the raw values, so
:func:`speed_up` replaces, on one connection only, the synchronous strategy's
``_get_response`` with :func:`_get_response`: a SearchResultEntry (RFC 4511,
``[APPLICATION 4]``) is decoded here into ``{"type": "searchResEntry", "dn",
"raw_attributes"}`` (a plain dict, the server's spelling of each name); every
other message (the final result, referrals, notices of disconnection) goes
through ldap3 as before. A message this decoder cannot read also goes to
ldap3, which then fails as it would have.

A server is not trusted to speak LDAP: :func:`_get_response` also reads the
socket itself (:func:`_receive`), with a deadline for the whole answer (the
connection's ``receive_timeout``; ldap3's own is per ``recv``, which a server
sending one byte at a time never reaches), refuses a message longer than
:data:`MAX_MESSAGE_BYTES` or with an indefinite length before reading it, and
turns whatever ldap3's decoder raises on a malformed message (IndexError,
KeyError, RecursionError, ...) or a DN that is not UTF-8 into
:class:`MalformedAnswer`, an ``LDAPSocketReceiveError``: the reader's one line.
"""

from __future__ import annotations

import contextlib
import time
import types
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPSocketReceiveError
from ldap3.strategy.base import RESPONSE_COMPLETE, SESSION_TERMINATED_BY_SERVER
from ldap3.strategy.sync import SyncStrategy
from ldap3.utils.asn1 import decode_message_fast

_SEQUENCE, _INTEGER, _OCTETS, _SET, _ENTRY = 0x30, 0x02, 0x04, 0x31, 0x64
_NOTICE_OF_DISCONNECTION = "1.3.6.1.4.1.1466.20036"
_MORE = ("searchResEntry", "searchResRef", "intermediateResponse")
_RECV_BYTES = 1 << 16

MAX_MESSAGE_BYTES = 256 << 20
"""The longest LDAP message accepted (one entry with its values): a server that
announces more is refused before anything is read (memory)."""


class MalformedAnswer(LDAPSocketReceiveError):  # type: ignore[misc]  # ldap3 has no types
    """The server sent bytes that are not an LDAP message recondiff can read."""


class AnswerTimeout(LDAPSocketReceiveError):  # type: ignore[misc]
    """The server's answer was not complete within the deadline."""


class TooManyEntries(LDAPSocketReceiveError):  # type: ignore[misc]
    """One answer held more entries than :func:`speed_up`'s ``max_entries``."""


def speed_up(conn: ldap3.Connection, max_entries: int = 0) -> bool:
    """Decode this connection's search entries with :func:`search_entry`; False
    (and nothing changed) when the connection is not ldap3's synchronous kind.
    ``max_entries`` (0: none): an answer holding more entries raises
    :class:`TooManyEntries` as soon as the one too many arrives (the size limit,
    which a server may ignore, and so hold a whole directory in one page)."""
    strategy = conn.strategy
    if type(strategy) is not SyncStrategy or not conn.fast_decoder:
        return False
    strategy._get_response = types.MethodType(_get_response, strategy)
    strategy.recondiff_max_entries = max_entries
    return True


def _get_response(strategy: SyncStrategy, message_id: int, timeout: Any) -> Any:
    """The answers to request ``message_id``, as ldap3's own ``_get_response``
    gives them (a list ending with RESPONSE_COMPLETE, or
    SESSION_TERMINATED_BY_SERVER), all within the connection's receive timeout."""
    seconds = strategy.connection.receive_timeout
    deadline = None if seconds is None else time.monotonic() + float(seconds)
    try:
        return _answers(strategy, message_id, deadline)
    finally:
        if deadline is not None:  # the socket's timeout as ldap3 set it, for the next send
            with contextlib.suppress(OSError, AttributeError):
                strategy.connection.socket.settimeout(seconds)


def _answers(strategy: SyncStrategy, message_id: int, deadline: float | None) -> Any:
    limit = getattr(strategy, "recondiff_max_entries", 0)
    answers: list[Any] = []
    complete = False
    while not complete:
        messages = _receive(strategy, deadline)
        if not messages:
            return SESSION_TERMINATED_BY_SERVER
        for message in messages:
            entry = search_entry(message)
            if entry is not None and entry[0] == message_id:
                answers.append(entry[1])
                if limit and len(answers) > limit:
                    raise TooManyEntries(f"more than {limit} entries in one answer")
                continue
            number, answer = _decode(strategy, message)
            if number == message_id:
                answers.append(answer)
                complete = complete or answer["type"] not in _MORE
            elif number == 0 and answer.get("responseName") == _NOTICE_OF_DISCONNECTION:
                return SESSION_TERMINATED_BY_SERVER
            else:
                raise LDAPSocketReceiveError(f"unexpected message {number} from the server")
    answers.append(RESPONSE_COMPLETE)
    return answers


def _decode(strategy: SyncStrategy, message: bytes) -> tuple[int, dict[str, Any]]:
    """``(messageID, answer)`` as ldap3 decodes a message; MalformedAnswer when it
    cannot (whatever its decoder raises: it trusts the bytes)."""
    try:
        decoded = decode_message_fast(message)
        answer = strategy.decode_response_fast(decoded)
        return int(decoded["messageID"]), answer
    except RecursionError:
        raise MalformedAnswer("a message nested too deeply to decode") from None
    except Exception as exc:  # any failure of the decoder is the server's
        raise MalformedAnswer(f"a message that is not valid LDAP ({type(exc).__name__})") from None


def _receive(strategy: SyncStrategy, deadline: float | None) -> list[bytes]:
    """Whole LDAP messages from the socket, as ldap3's ``receiving`` (an empty
    list: the server closed the connection), but with an overall ``deadline``
    (``time.monotonic()``) and a cap on each message's length."""
    sock = strategy.connection.socket
    messages: list[bytes] = []
    unprocessed = bytearray()  # appended to in place: a long message is not copied per recv
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise AnswerTimeout("no complete answer within the receive timeout")
        try:
            if left is not None:
                sock.settimeout(left)
            data = sock.recv(_RECV_BYTES)
        except TimeoutError:
            raise AnswerTimeout("no complete answer within the receive timeout") from None
        except (OSError, AttributeError) as exc:
            raise LDAPSocketReceiveError(f"error receiving data: {exc}") from None
        if not data:
            return messages
        unprocessed += data
        at = 0
        while (length := _message_size(unprocessed, at)) != -1:
            if len(unprocessed) - at < length:
                break
            messages.append(bytes(unprocessed[at : at + length]))
            at += length
        del unprocessed[:at]
        if not unprocessed:
            return messages


def _message_size(data: bytearray, at: int) -> int:
    """The length of the LDAP message at ``data[at:]`` (-1: not known yet)."""
    if len(data) - at < 2:
        return -1
    if data[at] != _SEQUENCE:
        raise MalformedAnswer(f"bytes that are not an LDAP message (0x{data[at]:02x})")
    first = data[at + 1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0:
        raise MalformedAnswer("a message with an indefinite length (RFC 4511 5.1)")
    if len(data) - at < 2 + count:
        return -1
    size = int.from_bytes(data[at + 2 : at + 2 + count], "big")
    if size > MAX_MESSAGE_BYTES:
        raise MalformedAnswer(
            f"a message of {size:,} bytes (more than {MAX_MESSAGE_BYTES >> 20} MiB)"
        )
    return 2 + count + size


def search_entry(message: bytes) -> tuple[int, dict[str, Any]] | None:
    """``(messageID, entry)`` of an LDAPMessage holding a SearchResultEntry, or
    None (another message, or one this decoder cannot read)."""
    try:
        return _search_entry(message)
    except (IndexError, ValueError, UnicodeDecodeError):
        return None


def _search_entry(data: bytes) -> tuple[int, dict[str, Any]] | None:
    if data[0] != _SEQUENCE:
        return None
    size, at = _length(data, 1)
    stop = at + size
    if data[at] != _INTEGER:
        return None
    size, at = _length(data, at + 1)
    number = int.from_bytes(data[at : at + size], "big", signed=True)
    at += size
    if data[at] != _ENTRY:
        return None
    _, at = _length(data, at + 1)
    dn, at = _octets(data, at)
    try:
        dn_text = dn.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedAnswer(f"an entry whose DN is not UTF-8 ({dn[:60]!r})") from None
    if data[at] != _SEQUENCE:
        return None
    size, at = _length(data, at + 1)
    end = at + size
    attributes: dict[str, list[bytes]] = {}
    while at < end:
        if data[at] != _SEQUENCE:
            return None
        size, at = _length(data, at + 1)
        after = at + size
        name, at = _octets(data, at)
        if data[at] != _SET:
            return None
        size, at = _length(data, at + 1)
        values_end = at + size
        values: list[bytes] = []
        while at < values_end:  # _octets, inlined for the common short value
            size = data[at + 1]
            if data[at] != _OCTETS or size >= 0x80:
                value, at = _octets(data, at)
                values.append(value)
                continue
            values.append(data[at + 2 : at + 2 + size])
            at += 2 + size
        try:
            attributes[name.decode("utf-8")] = values
        except UnicodeDecodeError:
            raise MalformedAnswer(f"an attribute name that is not UTF-8 ({name[:60]!r})") from None
        at = after
    if at != end or end > stop or stop > len(data):
        return None
    entry = {"type": "searchResEntry", "dn": dn_text, "raw_attributes": attributes}
    return number, entry


def _length(data: bytes, at: int) -> tuple[int, int]:
    """A BER length at ``at``: ``(length, offset of the content)``."""
    first = data[at]
    if first < 0x80:
        return first, at + 1
    count = first & 0x7F
    if count == 0 or count > 4:
        raise ValueError("unsupported BER length")
    return int.from_bytes(data[at + 1 : at + 1 + count], "big"), at + 1 + count


def _octets(data: bytes, at: int) -> tuple[bytes, int]:
    """An OCTET STRING at ``at``: ``(its bytes, offset after it)``."""
    if data[at] != _OCTETS:
        raise ValueError("not an OCTET STRING")
    size, start = _length(data, at + 1)
    end = start + size
    if end > len(data):
        raise ValueError("truncated")
    return data[start:end], end
