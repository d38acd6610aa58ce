"""A streaming reader for LDIF content files (RFC 2849).

Directory exports arrive as LDIF more often than as anything else: ``slapcat``,
``ldapsearch -LLL``, Apache Directory Studio and ``ldifde`` all write it. This
module turns such a file into a stream of :class:`LdifRecord` without loading
it whole, and refuses — with one line naming the file and line — what it cannot
read faithfully.

What is understood:

* an optional ``version: 1`` line at the top;
* comments (``#`` at the start of a line), including their folded continuations;
* folded lines: a line starting with exactly one space continues the previous
  line (the space is dropped, everything after it is kept);
* ``attr: value`` (leading spaces of the value are dropped, trailing ones kept),
  ``attr:: base64`` (decoded; kept as the base64 text when the bytes are not
  text, see :func:`decode_base64_value`);
* attribute options: ``;binary`` is dropped from the name and the value stays
  base64; any other option (``cn;lang-en``) stays part of the name;
* ``changetype: add`` right after the DN (``ldifde`` writes it on every entry):
  the record is read as a content record;
* CRLF line endings, a UTF-8 byte order mark, UTF-16 with a byte order mark;
* folds anywhere, even between the bytes of one UTF-8 character (files are
  unfolded as bytes, then decoded: :func:`unfolded_lines`);
* empty values (``description:``) are kept as the empty string, which compare
  treats as no value (docs/semantics.md);
* base64 without its ``=`` padding;
* Active Directory extended DNs (``<GUID=...>;<SID=...>;CN=...``), in ``dn:``
  and in values: the prefix is dropped (:func:`plain_dn`). Other forms that
  are not RFC 4514 (RFC 1779's ``;`` between RDNs, quoted values) are kept as
  written.

What is refused (:class:`~recondiff.errors.InputError`): other change records
(``modify``, ``delete``, ``modrdn``), controls, ``attr:< URL`` values, lines
without a colon, records not starting with ``dn:``, invalid base64 and bytes
that are not UTF-8.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import io
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

from recondiff.errors import InputError

__all__ = [
    "UTF8_ADVICE",
    "LdifRecord",
    "decode_base64_value",
    "parse_ldif",
    "plain_dn",
    "read_ldif",
    "snippet",
    "text_lines",
    "unfold_bytes",
    "unfolded_lines",
]

_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*(?:;[A-Za-z0-9_.\-]+)*")
"""An attribute description: a name or OID, then ``;option``s."""

_NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Control characters that mark decoded bytes as binary (tab, CR and LF are text)."""

UTF8_ADVICE = "save the export as UTF-8 (or UTF-16 with a BOM)"
"""What every text reader (LDIF, JSON Lines, CSV) advises for bytes that do not decode."""

_EXTENDED_DN = re.compile(r"(?:<(?:GUID|SID|WKGUID)=[^<>;]*>;)+", re.IGNORECASE)
"""The prefix of an Active Directory extended DN (``<GUID=...>;<SID=...>;CN=...``)."""

_DN_START = re.compile(r"[ ]*(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)[ ]*=")
"""The start of a DN: an attribute type (name or OID), then ``=``."""


def plain_dn(value: str) -> str:
    """``value`` without an AD extended-DN prefix (``<GUID=..>;<SID=..>;``), else as is.

    ``ldapsearch`` with the extended-DN control (1.2.840.113556.1.4.529) writes
    every DN so; the DN after the prefix is the one the directory matches and
    recondiff acts on. A value that is only such a prefix, or whose rest is no
    DN (a title ``<GUID=1>;Engineer``: the prefix is dropped from every
    attribute's values, not only DN ones), is kept as written.
    """
    if not value.startswith("<"):
        return value
    match = _EXTENDED_DN.match(value)
    if match is None or not _DN_START.match(value, match.end()):
        return value
    return value[match.end() :]


class LdifRecord(NamedTuple):
    """One entry of an LDIF content file.

    ``attributes`` maps each attribute name (first spelling met in this entry,
    options other than ``;binary`` included) to its values in file order.
    ``line`` is the 1-based line of the entry's ``dn:``.
    """

    dn: str
    attributes: dict[str, list[str]]
    line: int


def snippet(text: str, length: int = 40) -> str:
    """The first ``length`` characters of ``text``, unprintable ones shown as "?"."""
    return "".join(char if char.isprintable() else "?" for char in text[:length])


def _no_nul(path: Path, number: int, text: str) -> str:
    """Refuse NUL characters: no text export holds them, UTF-16 without a BOM does."""
    if "\x00" in text:
        raise InputError(
            f"{path}: line {number}: contains NUL characters; is it UTF-16 without a "
            f"byte order mark? {UTF8_ADVICE}"
        )
    return text


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line of a text file, streaming.

    Line endings (LF or CRLF) are removed. The encoding is UTF-8 unless the
    file starts with a byte order mark: a UTF-8 BOM is skipped, a UTF-16 LE/BE
    BOM switches to UTF-16. Bytes that do not decode, and NUL characters, raise
    :class:`InputError` with the line number (and the offending byte). Shared by the line-oriented
    readers (LDIF, JSON Lines).
    """
    handle, utf16 = _open_text(path)
    with handle:
        if utf16:
            yield from _utf16_lines(path, handle)
            return
        for number, raw in enumerate(handle, start=1):
            if raw.endswith(b"\n"):
                raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                byte = raw[exc.start]
                raise InputError(
                    f"{path}: line {number}: not valid UTF-8 (byte 0x{byte:02X}); {UTF8_ADVICE}"
                ) from None
            yield number, _no_nul(path, number, text)


def _open_text(path: Path) -> tuple[BinaryIO, bool]:
    """``path`` opened for reading bytes, and whether it is UTF-16: a UTF-16
    file is positioned at its BOM (:func:`_utf16_lines` reads it), any other
    after its UTF-8 BOM, if it has one."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    try:
        start = handle.read(4)
        handle.seek(len(codecs.BOM_UTF8) if start.startswith(codecs.BOM_UTF8) else 0)
    except BaseException:
        handle.close()
        raise
    return handle, start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))


def _utf16_lines(path: Path, handle: BinaryIO) -> Iterator[tuple[int, str]]:
    """Stream the lines of a UTF-16 file (BOM first), splitting on LF only."""
    number = 0
    text = io.TextIOWrapper(handle, encoding="utf-16", errors="strict", newline="\n")
    try:
        for line in text:
            number += 1
            yield number, _no_nul(path, number, line.removesuffix("\n").removesuffix("\r"))
    except UnicodeDecodeError:
        raise InputError(
            f"{path}: line {number + 1}: not valid UTF-16 (truncated or a lone surrogate); "
            f"{UTF8_ADVICE}"
        ) from None
    finally:
        text.detach()


def decode_base64_value(encoded: str) -> str | None:
    """Decode an LDIF base64 value to text, or return None if it is binary.

    The value is text when its bytes are valid UTF-8 without control
    characters other than tab, CR and LF; the text is then returned exactly,
    leading and trailing spaces included. Binary values (a ``jpegPhoto``, an
    ``objectGUID``) return None: the caller keeps the base64 text. Raises
    :class:`binascii.Error` if ``encoded`` is not base64.
    """
    padded = encoded + "=" * (-len(encoded) % 4)
    data = base64.b64decode(padded, validate=True)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if _NOT_TEXT.search(text):
        return None
    return text


def read_ldif(path: Path) -> Iterator[LdifRecord]:
    """Stream the entries of the LDIF file at ``path`` (see :func:`parse_ldif`)."""
    return parse_ldif(unfolded_lines(path), str(path))


def unfolded_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Like :func:`text_lines`, but with folded lines joined *before* decoding.

    RFC 2849 folds a line at any byte, so a fold may fall between the two
    bytes of one UTF-8 character (``ldapsearch`` and ``slapcat`` wrap at 76
    bytes and do exactly that): each half alone is not UTF-8, the joined line
    is. A line starting with one space that follows a non-blank line is joined
    to it (the space dropped) as bytes; the logical line is numbered by its
    first physical line, and a byte that does not decode is reported on the
    physical line that holds it. UTF-16 files (which only ``ldifde`` writes,
    folding between characters) are unfolded as text by :func:`parse_ldif`.
    """
    handle, utf16 = _open_text(path)
    with handle:
        if utf16:
            yield from _utf16_lines(path, handle)
            return
        yield from unfold_bytes(path, enumerate(handle, start=1))


def unfold_bytes(path: Path, raw_lines: Iterable[tuple[int, bytes]]) -> Iterator[tuple[int, str]]:
    """The unfolding of :func:`unfolded_lines` over numbered raw lines (with or
    without their LF or CRLF ending); shared with the chunked reader
    (recondiff.ingest.ldif_stream), which hands it a chunk of the file."""
    pending = bytearray()
    pieces: list[tuple[int, int]] = []  # (offset in pending, physical line number)
    for number, line in raw_lines:
        raw = line
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        if raw.startswith(b" ") and pieces:
            pieces.append((len(pending), number))
            pending += raw[1:]
            continue
        if pieces:
            yield _decoded(path, bytes(pending), pieces)
            pending.clear()
            pieces = []
        if raw and not raw.startswith(b" "):
            pending += raw
            pieces.append((0, number))
        else:  # a blank line, or a continuation with nothing to continue
            yield _decoded(path, raw, [(0, number)])
    if pieces:
        yield _decoded(path, bytes(pending), pieces)


def _decoded(path: Path, raw: bytes, pieces: list[tuple[int, int]]) -> tuple[int, str]:
    """``(first line number, text)`` of an unfolded line; bad UTF-8 or a NUL is one
    error naming the physical line that holds it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        number = max(n for at, n in pieces if at <= exc.start)
        byte = raw[exc.start]
        raise InputError(
            f"{path}: line {number}: not valid UTF-8 (byte 0x{byte:02X}); {UTF8_ADVICE}"
        ) from None
    if "\x00" in text:
        nul = raw.index(b"\x00")
        _no_nul(path, max(n for at, n in pieces if at <= nul), text)
    return pieces[0][1], text


def parse_ldif(
    lines: Iterable[tuple[int, str]], name: str, *, seen_anything: bool = False
) -> Iterator[LdifRecord]:
    """Parse numbered lines of LDIF content records into :class:`LdifRecord`.

    ``lines`` yields ``(line_number, text)`` without line endings (as
    :func:`text_lines` does); ``name`` names the source in error messages.
    ``seen_anything``: the lines continue a file whose earlier lines held a
    record (or its ``version:`` line), so a ``version:`` line is no longer one.
    """
    entry: _Entry | None = None
    for number, text in _logical_lines(lines, name):
        if text is None:  # blank line: end of record
            if entry is not None:
                yield entry.record()
                entry = None
            continue
        line = _split_line(number, text, name)
        key = line.attr.lower()
        if entry is None or key == "dn":
            if entry is not None:
                # A new "dn:" without a blank line before it: be lenient, the
                # previous record ends here.
                yield entry.record()
            if key == "version" and not seen_anything:
                _check_version(line, name)
            else:
                entry = _Entry.start(line, name)
            seen_anything = True
            continue
        entry.read(line, name)
    if entry is not None:
        yield entry.record()


class _Line(NamedTuple):
    """One logical ``attr: value`` line (``attr:: base64`` when ``is_base64``)."""

    number: int
    attr: str
    value: str
    is_base64: bool


class _Entry:
    """The record being read: its DN, and its attributes under the first
    spelling of each name met in it."""

    def __init__(self, dn: str, line: int) -> None:
        self.dn = dn
        self.line = line
        self.attributes: dict[str, list[str]] = {}
        self.spelling: dict[str, str] = {}
        self.after_dn = True  # no line read since the dn: line

    @classmethod
    def start(cls, line: _Line, name: str) -> _Entry:
        """The entry a ``dn:`` line starts; any other line cannot start one."""
        if line.attr.lower() != "dn":
            raise InputError(
                f'{name}: line {line.number}: a record must start with "dn:", not "{line.attr}:"; '
                "is a blank line missing or one too many?"
            )
        return cls(plain_dn(_text_value(line, name)), line.number)

    def read(self, line: _Line, name: str) -> None:
        """Take one line of the entry: an attribute value, or a ``changetype: add``
        right after the DN (``ldifde`` writes it); refuse controls and other changes."""
        key = line.attr.lower()
        if key == "control":
            raise InputError(
                f"{name}: line {line.number}: LDIF controls are not supported; "
                "export the entries as content records"
            )
        first, self.after_dn = self.after_dn, False
        if key == "changetype" and first:
            kind = _text_value(line, name).strip()
            if kind.lower() == "add":
                return  # an "add" record carries exactly the entry's content
            raise InputError(
                f"{name}: line {line.number}: change records (changetype: {kind}) are not "
                "supported; export the entries as content records"
            )
        attr, value = _attribute_value(line, name)
        known = self.spelling.get(attr.lower())
        if known is None:
            self.spelling[attr.lower()] = attr
            self.attributes[attr] = [value]
        else:
            self.attributes[known].append(value)

    def record(self) -> LdifRecord:
        return LdifRecord(self.dn, self.attributes, self.line)


def _check_version(line: _Line, name: str) -> None:
    """Refuse an LDIF version other than 1."""
    if line.value.strip() != "1":
        raise InputError(
            f'{name}: line {line.number}: LDIF version "{line.value.strip()}" is not '
            'supported; only "version: 1" is'
        )


def _logical_lines(lines: Iterable[tuple[int, str]], name: str) -> Iterator[tuple[int, str | None]]:
    """Unfold continuation lines and drop comments.

    Yields ``(line_number, text)`` for each logical line, numbered by its first
    physical line, and ``(line_number, None)`` for each blank line.
    """
    current: list[str] | None = None
    current_number = 0
    in_comment = False
    for number, text in lines:
        if text.startswith(" "):
            if current is not None:
                current.append(text[1:])
                continue
            if in_comment:
                continue
            if text.strip() == "":
                yield number, None  # a line of spaces between records: a separator
                continue
            raise InputError(
                f"{name}: line {number}: continuation line (starts with a space) follows "
                f'no line: "{snippet(text)}"'
            )
        if current is not None:
            yield current_number, "".join(current)
            current = None
        in_comment = False
        if text == "":
            yield number, None
        elif text.startswith("#"):
            in_comment = True
        else:
            current, current_number = [text], number
    if current is not None:
        yield current_number, "".join(current)


def _split_line(number: int, text: str, name: str) -> _Line:
    """Split ``attr: value`` / ``attr:: base64``."""
    colon = text.find(":")
    if colon < 0:
        raise InputError(
            f'{name}: line {number}: no ":" in "{snippet(text)}"; '
            'each LDIF line is "attribute: value"'
        )
    attr = text[:colon]
    if not _ATTRIBUTE_NAME.fullmatch(attr):
        raise InputError(
            f'{name}: line {number}: "{snippet(attr)}" is not an attribute name; '
            'each LDIF line is "attribute: value"'
        )
    rest = text[colon + 1 :]
    if rest.startswith(":"):
        return _Line(number, attr, rest[1:].strip(" "), True)
    if rest.startswith("<"):
        raise InputError(
            f'{name}: line {number}: "{attr}:<" takes the value from a URL, which is not '
            "supported; export the value inline"
        )
    return _Line(number, attr, rest.lstrip(" "), False)


def _text_value(line: _Line, name: str) -> str:
    """The text of a ``dn:``/``changetype:`` line; a base64 one must decode to text."""
    if not line.is_base64:
        return line.value
    try:
        text = decode_base64_value(line.value)
    except (binascii.Error, ValueError):
        text = None
    if text is None:
        raise InputError(f'{name}: line {line.number}: "{line.attr}::" is not base64 of UTF-8 text')
    return text


def _attribute_value(line: _Line, name: str) -> tuple[str, str]:
    """Apply option and base64 rules; return the attribute name and value to keep."""
    number, attr, value, is_base64 = line
    binary = False
    if ";" in attr:
        base, *options = attr.split(";")
        kept = [option for option in options if option.lower() != "binary"]
        binary = len(kept) != len(options)
        attr = ";".join([base, *kept])
        if attr.lower() == "dn":
            raise InputError(
                f'{name}: line {number}: "{line.attr}" would be a second DN of the entry; '
                "remove the line from the export"
            )
    if not is_base64:
        return attr, plain_dn(value)
    try:
        text = decode_base64_value(value)
    except (binascii.Error, ValueError):
        raise InputError(
            f'{name}: line {number}: the value of "{attr}::" is not valid base64'
        ) from None
    if binary or text is None:
        return attr, value
    return attr, plain_dn(text)
