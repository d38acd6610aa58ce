"""Read an LDAP directory into a Parquet snapshot (docs/explore.md, "Reading a directory").

:func:`read_ldap` searches a directory with simple paged results (RFC 2696)
and writes what it finds as the snapshot ``recondiff ingest`` would write from
the same entries exported as LDIF (``ldapsearch -LLL``): ``dn`` first, then
every attribute as the server spells it, in order of first appearance,
``string`` or ``list<string>``, binary values as base64 exactly as
:func:`recondiff.ingest.ldif.decode_base64_value` decides, empty values
dropped from list columns.

Memory stays flat whatever the directory's size: each page is turned into rows
and added to a batch; a full batch (:data:`BATCH_ROWS` rows or
:data:`BATCH_BYTES` bytes of values) is spilled to an Arrow file in a hidden
folder beside ``out``. Whether a column is a list is known only once every
entry has been seen (a column is a list when some entry has several values,
as ingest decides), so a second pass, local and batch by batch, reads the
spilled batches back and writes the snapshot with the final column types,
through a temporary name renamed over ``out`` (:mod:`recondiff.io.atomic`).
The server's schema (SINGLE-VALUE) is not used: it would make a column a list
that ingest, and so compare, sees as a string.

Every failure (refused bind, bad base, size or time limit, referral, TLS
verification, a server that cannot be reached or goes away; and from a server
that does not follow the protocol: bytes that are not LDAP, an answer that
never completes, a paged-results cookie sent again, more entries than
``size_limit``, see :mod:`recondiff.ingest.ldap_fast`) is one
:class:`~recondiff.errors.InputError` line naming the URL; nothing is left at
``out`` (an existing file there stays as it was). The password comes only from
:class:`LdapRead`, is never shown by its ``repr``, and is scrubbed from every
message.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import os
import re
import shutil
import ssl
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import ldap3
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from ldap3.core import exceptions as ldap_exc
from ldap3.utils.conv import escape_filter_chars

from recondiff import __version__
from recondiff.errors import InputError
from recondiff.ingest import ad, ldap_fast
from recondiff.ingest.columns import STRING, STRING_LIST
from recondiff.ingest.ldif import _NOT_TEXT, plain_dn
from recondiff.ingest.snapshot import (
    META_SOURCE,
    SnapshotInfo,
    as_utc,
    file_sha256,
    metadata_of,
)
from recondiff.ingest.spool import spool_folder, write_batch
from recondiff.io.atomic import write_atomically

__all__ = [
    "BATCH_BYTES",
    "BATCH_ROWS",
    "FORMAT",
    "META_HIGH_WATER",
    "META_SINCE",
    "LdapRead",
    "LdapSnapshot",
    "Since",
    "read_ldap",
    "source_name",
]

FORMAT = "ldap"
"""``recondiff.format`` of a snapshot read from a directory."""

META_HIGH_WATER = "recondiff.high_water"
"""The largest value of the high-water attribute seen (absent when none was)."""
META_SINCE = "recondiff.since"
"""``attribute>=value`` when the read was incremental (:class:`Since`)."""

BATCH_ROWS = 10_000
"""Rows per batch: the most the reader holds in Python objects at a time."""
BATCH_BYTES = 16 << 20
"""A batch is spilled earlier when its values reach this many bytes."""

CONNECT_TIMEOUT = 30
"""Seconds to wait for a TCP connection."""
RECEIVE_TIMEOUT = 600
"""Seconds to wait for one answer (one page), beyond the time limit, before the
server counts as gone."""

MARK_MARGIN = 2.0
"""Seconds a change time may be ahead of this machine's clock and still be taken
as the high-water mark (explore.state's CLOCK_MARGIN): a later one is a wrong
clock or forged data, and would hide every change until then from ``--since-last``."""
_GENERALIZED = re.compile(
    r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})?(\d{2})?(?:[.,]\d+)?(Z|[+-]\d{2}(?:\d{2})?)?$"
)

SCOPES = {"base": ldap3.BASE, "one": ldap3.LEVEL, "subtree": ldap3.SUBTREE}
PAGED_RESULTS = "1.2.840.113556.1.4.319"

_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+")
"""An attribute type: a name or an OID (RFC 4512), no options."""

_OPERATIONAL_MARKS = frozenset({"modifytimestamp", "createtimestamp", "entrycsn"})
"""High-water attributes ``*`` does not return: added to the request for the
high-water mark only, and then not kept as a column."""


@dataclass(frozen=True)
class Since:
    """An incremental read: only entries whose ``attribute`` is at or after
    ``value`` (``(attribute>=value)``, the value escaped). With ``modifyTimestamp``
    (one-second resolution), entries changed in the high-water second itself
    are read again: harmless, never missed."""

    attribute: str
    value: str

    def __post_init__(self) -> None:
        if not _ATTRIBUTE.fullmatch(self.attribute):
            raise InputError(
                f'since: "{self.attribute[:40]}" is not an attribute name; '
                "use modifyTimestamp, uSNChanged or whenChanged"
            )
        if not self.value:
            raise InputError(f"since: the value of {self.attribute} is empty")

    def __str__(self) -> str:
        return f"{self.attribute}>={self.value}"


@dataclass(frozen=True)
class LdapRead:
    """What to read, from where, and how to authenticate (see the module docstring)."""

    url: str
    base: str
    scope: str = "subtree"
    filter: str = "(objectClass=*)"
    bind_dn: str | None = None
    password: str | None = field(default=None, repr=False)
    start_tls: bool = False
    ca_file: Path | None = None
    verify: bool = True
    page_size: int = 500
    size_limit: int = 0
    time_limit: int = 0
    attributes: tuple[str, ...] | None = None
    """None: every user attribute (``*``); ``()``: only the DN."""
    ad: bool = False
    since: Since | None = None
    allow_plaintext: bool = False
    """Send the password over ``ldap://`` without StartTLS to a host that is not
    this machine (refused otherwise)."""


@dataclass(frozen=True)
class LdapSnapshot(SnapshotInfo):
    """What :func:`read_ldap` wrote, and the high-water mark of the read."""

    high_water: str | None = None
    """The largest ``modifyTimestamp`` (``uSNChanged`` with ``ad``, or the
    :class:`Since` attribute) among the entries read, as the server wrote it;
    None when no entry had it."""


def read_ldap(
    spec: LdapRead,
    out: Path,
    *,
    multi_valued: Sequence[str] = (),
    progress: Callable[[int], None] | None = None,
    captured_at: datetime | None = None,
) -> LdapSnapshot:
    """Read the entries ``spec`` names into a snapshot at ``out``, atomically.

    ``multi_valued`` names attributes that are ``list<string>`` even when no
    entry has two values; ``progress(entries)`` is called after every page;
    ``captured_at`` defaults to the time the search started.
    """
    out = Path(out)
    _check(spec)
    server = _server(spec)
    when = as_utc(captured_at) if captured_at is not None else datetime.now(UTC)
    spill = _Spill(out, {name.lower() for name in multi_valued})
    try:
        high_water = _read(spec, server, spill, progress)
        metadata = metadata_of(when, source_name(spec), "", FORMAT, spill.rows)
        if spec.since is not None:
            metadata[META_SINCE] = str(spec.since)
        if high_water is not None:
            metadata[META_HIGH_WATER] = high_water
        write_atomically(
            out, lambda temp: spill.write(temp, metadata), "the snapshot", hidden=False
        )
    finally:
        spill.remove()
    return LdapSnapshot(
        path=out,
        rows=spill.rows,
        captured_at=when,
        source=metadata[META_SOURCE],
        source_sha256="",
        sha256=file_sha256(out),
        format=FORMAT,
        recondiff_version=__version__,
        high_water=high_water,
    )


def source_name(spec: LdapRead) -> str:
    """The read as an LDAP URL (RFC 4516): server, base, scope and filter;
    never a password (any ``user:password@`` in ``url`` is dropped)."""
    parts = urlsplit(spec.url)
    host = parts.netloc.rpartition("@")[2]
    safe = "=,+;:@!$&'*()<>~|\\/"  # what a DN or filter reads better with, and needs no escape
    scope = {"base": "base", "one": "one", "subtree": "sub"}.get(spec.scope, spec.scope)
    base = quote(spec.base, safe=safe)
    filter_text = quote(spec.filter, safe=safe)
    return f"{parts.scheme.lower()}://{host}/{base}??{scope}?{filter_text}"


# -- the connection ----------------------------------------------------------------


def _check(spec: LdapRead) -> None:
    """Refuse a spec that cannot be read as asked, before connecting."""
    where = _where(spec)
    if spec.scope not in SCOPES:
        raise InputError(f"{where}: unknown search scope {spec.scope!r}; use base, one or subtree")
    if spec.page_size < 1:
        raise InputError(f"{where}: page size {spec.page_size} must be at least 1")
    if spec.size_limit < 0 or spec.time_limit < 0:
        raise InputError(f"{where}: size and time limits are 0 (none) or more")
    if spec.bind_dn and not spec.password:
        raise InputError(
            f"{where}: the bind password for {spec.bind_dn} is empty (an empty password "
            "binds anonymously on many servers); give the password"
        )
    if spec.password and not spec.bind_dn:
        raise InputError(f"{where}: a password without a bind DN; give the bind DN")


def _server(spec: LdapRead) -> ldap3.Server:
    """The ldap3 server for ``spec.url``, TLS set up (verification on unless asked)."""
    where = _where(spec)
    parts = urlsplit(spec.url)
    scheme = parts.scheme.lower()
    if scheme not in ("ldap", "ldaps") or not parts.hostname:
        raise InputError(f"{where}: not an LDAP URL; use ldap://HOST[:PORT] or ldaps://HOST[:PORT]")
    if "@" in parts.netloc:
        raise InputError(f"{where}: no user or password in the URL; give the bind DN and password")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InputError(f"{where}: give only the server in the URL; the base DN is the base")
    if scheme == "ldaps" and spec.start_tls:
        raise InputError(f"{where}: StartTLS is for ldap:// URLs; ldaps:// is TLS already")
    try:
        port = parts.port or (636 if scheme == "ldaps" else 389)
    except ValueError:
        raise InputError(f"{where}: the port is not a number") from None
    host = unquote(parts.hostname)
    tls = None
    if scheme == "ldaps" or spec.start_tls:
        tls = _tls(spec, host)
    elif spec.ca_file is not None:
        raise InputError(
            f"{where}: ca_file is set but the connection would not be encrypted; "
            "use StartTLS (start_tls = true, --start-tls) or an ldaps:// URL"
        )
    elif spec.password and not spec.allow_plaintext and not _loopback(host):
        raise InputError(
            f"{where}: refusing to send the bind password unencrypted over ldap://; "
            "use StartTLS (start_tls = true, --start-tls) or an ldaps:// URL"
        )
    return ldap3.Server(
        host,
        port=port,
        use_ssl=scheme == "ldaps",
        tls=tls,
        get_info=ldap3.NONE,
        connect_timeout=CONNECT_TIMEOUT,
    )


def _tls(spec: LdapRead, host: str) -> ldap3.Tls:
    """Certificate and host name checked against ``ca_file`` (else the system's CAs);
    with ``verify=False``, nothing checked and a warning line on stderr."""
    if not spec.verify:
        print(
            f"recondiff: WARNING: TLS certificate verification is OFF for {_where(spec)} "
            "(insecure_skip_tls_verify): the server is not authenticated; anyone on the "
            "network path can pose as it and read the bind password and the entries",
            file=sys.stderr,
            flush=True,
        )
        return ldap3.Tls(validate=ssl.CERT_NONE, sni=host)
    if spec.ca_file is not None and not Path(spec.ca_file).is_file():
        raise InputError(f"{spec.ca_file}: no such CA file (ca_file, --ca-file)")
    ca_file = str(spec.ca_file) if spec.ca_file is not None else None
    return ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=ca_file, sni=host)


def _loopback(host: str) -> bool:
    """Whether ``host`` is this machine (a password sent there does not cross a network)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _connect(spec: LdapRead, server: ldap3.Server) -> ldap3.Connection:
    """Open, secure (StartTLS) and bind; any failure is one InputError line."""
    conn = ldap3.Connection(
        server,
        user=spec.bind_dn or None,
        password=spec.password or None,
        authentication=ldap3.SIMPLE if spec.bind_dn else ldap3.ANONYMOUS,
        auto_bind=ldap3.AUTO_BIND_NONE,
        raise_exceptions=False,
        read_only=True,
        check_names=False,
        auto_referrals=False,
        return_empty_attributes=False,
        receive_timeout=RECEIVE_TIMEOUT + spec.time_limit,
    )
    ldap_fast.speed_up(conn, max_entries=spec.size_limit)
    try:
        conn.open()
        if spec.start_tls:
            conn.start_tls()
        if spec.bind_dn and not conn.bind():
            raise _error(spec, f"bind as {spec.bind_dn} refused ({_describe(conn.result)}); "
                         "check the bind DN and the password")  # fmt: skip
    except InputError:
        _unbind(conn)
        raise
    except (ldap_exc.LDAPException, OSError) as exc:
        _unbind(conn)
        raise _connection_error(spec, exc) from None
    return conn


def _unbind(conn: ldap3.Connection) -> None:
    with contextlib.suppress(Exception):
        conn.unbind()


# -- the search ----------------------------------------------------------------------


def _read(
    spec: LdapRead,
    server: ldap3.Server,
    spill: _Spill,
    progress: Callable[[int], None] | None,
) -> str | None:
    """Search page by page into ``spill``; return the high-water mark."""
    conn = _connect(spec, server)
    try:
        rows = _Rows(spec, conn)
        for page in _pages(spec, conn, rows.request, lambda: spill.rows):
            if spec.size_limit and spill.rows + len(page) > spec.size_limit:
                raise _over_size_limit(spec)
            for entry in page:
                dn, row = rows.row(entry)
                spill.add(dn, row)
            if progress is not None:
                progress(spill.rows)
        rows.warn_future()
        return rows.high_water
    finally:
        _unbind(conn)


def _pages(
    spec: LdapRead, conn: ldap3.Connection, attributes: list[str], seen: Callable[[], int]
) -> Iterator[list[dict[str, Any]]]:
    """Each page of the paged search: its entries; errors and references raise."""
    search_filter = _filter(spec)
    cookie: bytes | None = None
    cookies: set[bytes] = set()  # every cookie the server sent: one sent again is a loop
    while True:
        try:
            conn.search(
                spec.base,
                search_filter,
                SCOPES[spec.scope],
                attributes=attributes,
                paged_size=spec.page_size,
                paged_cookie=cookie,
                size_limit=spec.size_limit,
                time_limit=spec.time_limit,
            )
        except (ldap_exc.LDAPException, OSError) as exc:
            raise _search_error(spec, exc, seen()) from None
        result: dict[str, Any] = dict(conn.result or {})
        page = list(conn.response or [])
        if not result or result.get("result") is None:
            raise _lost(spec, seen(), "no answer")
        _refuse_references(spec, page)
        if result["result"] != 0:
            raise _search_failed(spec, result, seen())
        yield [item for item in page if item.get("type") == "searchResEntry"]
        control = (result.get("controls") or {}).get(PAGED_RESULTS) or {}
        cookie = (control.get("value") or {}).get("cookie")
        if not cookie:
            return
        if cookie in cookies:
            raise _error(spec, f"the server sent a paged-results cookie it had sent before, "
                         f"after {seen()} entries: it would send the same pages forever; "
                         "nothing was written (a fault of the server)")  # fmt: skip
        cookies.add(cookie)


def _search_error(spec: LdapRead, exc: BaseException, seen: int) -> InputError:
    """What went wrong while searching, as one line."""
    if isinstance(exc, ldap_exc.LDAPInvalidFilterError):
        return _error(spec, f"the filter {spec.filter!r} is not a valid LDAP filter "
                      f"({_text(exc)}); check filter")  # fmt: skip
    if isinstance(exc, ldap_fast.MalformedAnswer):
        return _error(spec, f"the server sent {_text(exc)} after {seen} entries; nothing was "
                      "written: check that url points at an LDAP server")  # fmt: skip
    if isinstance(exc, ldap_fast.TooManyEntries):
        return _over_size_limit(spec)
    if isinstance(exc, ldap_fast.AnswerTimeout):
        seconds = RECEIVE_TIMEOUT + spec.time_limit
        return _lost(spec, seen, f"no complete answer within {seconds} s")
    return _lost(spec, seen, _text(exc))


def _over_size_limit(spec: LdapRead) -> InputError:
    return _error(spec, f"the search returned more than the size limit of {spec.size_limit} "
                  "entries (the server did not stop at it); raise size_limit, or narrow base "
                  "or filter")  # fmt: skip


def _filter(spec: LdapRead) -> str:
    """The search filter: ``spec.filter``, and the incremental condition with its
    value escaped (RFC 4515), never formatted in as is."""
    text = spec.filter.strip() or "(objectClass=*)"
    if not text.startswith("("):
        text = f"({text})"
    if spec.since is None:
        return text
    value = escape_filter_chars(spec.since.value)
    return f"(&{text}({spec.since.attribute}>={value}))"


def _refuse_references(spec: LdapRead, page: list[dict[str, Any]]) -> None:
    """A continuation reference means entries live on another server: refuse."""
    for item in page:
        if item.get("type") == "searchResRef":
            uris = ", ".join(str(u) for u in item.get("uri") or []) or "another server"
            raise _error(
                spec,
                f"the search under {spec.base} met a referral to {uris}; recondiff does not "
                "follow referrals: choose a base that leaves it out, or read that server "
                "separately",
            )


# -- rows ---------------------------------------------------------------------------------


class _Rows:
    """Turn the server's entries into rows, as ingest would read their LDIF."""

    def __init__(self, spec: LdapRead, conn: ldap3.Connection) -> None:
        self.spec = spec
        self.conn = conn
        if spec.since is not None:
            self.mark = spec.since.attribute
        else:
            self.mark = "uSNChanged" if spec.ad else "modifyTimestamp"
        self.mark_key = self.mark.lower()
        self.request, self.keep_mark = _requested(spec.attributes, self.mark)
        self.high_water: str | None = None
        self.count = 0  # entries seen, for messages
        self._best: tuple[int, int | str] | None = None
        self.future = 0  # change times later than now seen (not taken as the mark)
        self.latest_future = ""

    def row(self, entry: Mapping[str, Any]) -> tuple[str, dict[str, list[str]]]:
        """The DN and attributes of one entry (names as the server spells them)."""
        self.count += 1
        dn = plain_dn(str(entry.get("dn", "")))
        raw: Mapping[str, list[bytes] | None] = entry.get("raw_attributes") or {}
        row: dict[str, list[str]] = {}
        spelling: dict[str, str] = {}  # folded name -> the first spelling in this entry
        for name, values in raw.items():
            if not values:
                continue
            column, binary, ranged = (
                _description(name, self.spec.ad) if ";" in name else (name, False, False)
            )
            if column.lower() == self.mark_key:
                self._see_mark(values)
                if not self.keep_mark:
                    continue
            if ranged:
                values = ad.ranged_values(self._base_search, dn, column, {name: values})
            texts = ad.decode_values(column, values) if self.spec.ad and not binary else None
            if texts is None:
                texts = _binary_texts(values) if binary else _texts(values)
            known = spelling.setdefault(column.lower(), column)
            row[known] = row[known] + texts if known in row else texts
        if self.spec.ad:
            for column, value in ad.derived_columns(row).items():
                if value is not None:
                    row[column] = [value]
        return dn, row

    def _see_mark(self, values: Sequence[bytes]) -> None:
        for value in values:
            text = value.decode("utf-8", "replace")
            key: tuple[int, int | str] = (1, int(text)) if text.isdigit() else (2, text)
            if self._best is not None and key <= self._best:
                continue
            if key[0] == 2 and _in_the_future(text):  # it would hide every later change
                self.future += 1
                self.latest_future = max(self.latest_future, text)
                continue
            self._best, self.high_water = key, text

    def warn_future(self) -> None:
        """Say on stderr that change times later than now were not taken as the mark."""
        if not self.future:
            return
        print(
            f"recondiff: WARNING: {_where(self.spec)}: {self.future} entries have a "
            f"{self.mark} later than this machine's clock (the latest {self.latest_future}); "
            "not taken as the high-water mark, which would hide every later change from "
            "--since-last: check the directory's clock",
            file=sys.stderr,
            flush=True,
        )

    def _base_search(self, dn: str, attributes: list[str]) -> Mapping[str, list[bytes]]:
        """One base search of ``dn`` for ``attributes`` (AD's ranged values)."""
        spec, conn = self.spec, self.conn
        try:
            conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=attributes)
        except (ldap_exc.LDAPException, OSError) as exc:
            raise _lost(spec, self.count, _text(exc)) from None
        result: dict[str, Any] = dict(conn.result or {})
        if result.get("result") != 0:
            raise _error(spec, f"reading the ranges of {attributes} of {dn} failed "
                         f"({_describe(result)})")  # fmt: skip
        for item in conn.response or []:
            if item.get("type") == "searchResEntry":
                found: Mapping[str, list[bytes]] = item.get("raw_attributes") or {}
                return found
        return {}


def _in_the_future(text: str) -> bool:
    """Whether ``text`` is a GeneralizedTime later than now plus :data:`MARK_MARGIN`."""
    m = _GENERALIZED.match(text)
    if m is None:
        return False  # not a time: explore's state says so when it is used
    year, month, day, hour, minute, second, zone = m.groups()
    try:
        when = datetime(int(year), int(month), int(day), int(hour), int(minute or 0),
                        int(second or 0), tzinfo=UTC)  # fmt: skip
    except ValueError:
        return False
    if zone and zone != "Z":
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5] or 0))
        when = when - offset if zone[0] == "+" else when + offset
    return when > datetime.now(UTC) + timedelta(seconds=MARK_MARGIN)


def _requested(attributes: tuple[str, ...] | None, mark: str) -> tuple[list[str], bool]:
    """The attributes to ask for, and whether the high-water attribute is kept as a
    column (it is asked for in any case, to know the high-water mark)."""
    if attributes is None:
        keep = mark.lower() not in _OPERATIONAL_MARKS
        return [ldap3.ALL_ATTRIBUTES, mark], keep
    wanted: dict[str, str] = {}
    for name in attributes:
        if name.lower() != "dn":
            wanted.setdefault(name.lower(), name)
    keep = mark.lower() in wanted or "+" in wanted
    wanted.setdefault(mark.lower(), mark)
    return list(wanted.values()), keep


def _description(name: str, ad_ranges: bool) -> tuple[str, bool, bool]:
    """The column an attribute description goes to, whether it is ``;binary`` (the
    option dropped, the value kept as base64, as ingest does) and whether it is an
    AD range (``member;range=0-1499``, with ``ad`` only)."""
    if ";" not in name:
        return name, False, False
    base, *options = name.split(";")
    binary = any(option.lower() == "binary" for option in options)
    ranged = ad_ranges and any(option.lower().startswith("range=") for option in options)
    kept = [
        option
        for option in options
        if option.lower() != "binary" and not (ad_ranges and option.lower().startswith("range="))
    ]
    return ";".join([base, *kept]), binary, ranged


def _texts(values: Sequence[bytes]) -> list[str]:
    """Values as ingest reads them from LDIF: the text when the bytes are UTF-8
    without control characters (an AD extended-DN prefix dropped), else base64."""
    texts = []
    for value in values:
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            texts.append(base64.b64encode(value).decode("ascii"))
            continue
        if _NOT_TEXT.search(text):
            texts.append(base64.b64encode(value).decode("ascii"))
        else:
            texts.append(plain_dn(text) if text.startswith("<") else text)
    return texts


def _binary_texts(values: Sequence[bytes]) -> list[str]:
    """``;binary`` values: base64 whatever the bytes."""
    return [base64.b64encode(value).decode("ascii") for value in values]


# -- batches ------------------------------------------------------------------------------


class _Spill:
    """Rows in batches: the current batch in memory, the earlier ones on disk
    (every column ``list<string>``, values as read), and for each column its
    first spelling and whether some entry had several values."""

    def __init__(self, out: Path, multi: set[str]) -> None:
        # a locked folder beside the snapshot; a killed read's are swept (spool.py)
        self.directory, lock = spool_folder(out)
        self._lock: int | None = lock
        self.multi = multi
        self.names: dict[str, str] = {"dn": "dn"}  # folded name -> first spelling
        self.is_list: dict[str, bool] = {"dn": False}
        self.files: list[Path] = []
        self.rows = 0
        self._batch: dict[str, list[list[str] | None]] = {}
        self._batch_rows = 0
        self._batch_bytes = 0

    def add(self, dn: str, row: Mapping[str, list[str]]) -> None:
        self._put("dn", [dn])
        names, is_list = self.names, self.is_list
        for name, values in row.items():
            key = name.lower()
            if key == "dn":  # an attribute a server calls dn is no DN: dropped (docs)
                continue
            if key not in names:
                names[key] = name
                is_list[key] = False
            if len(values) > 1:
                is_list[key] = True
            self._put(key, values)
        self._batch_rows += 1
        self.rows += 1
        if self._batch_rows >= BATCH_ROWS or self._batch_bytes >= BATCH_BYTES:
            self.flush()

    def _put(self, key: str, values: list[str]) -> None:
        column = self._batch.setdefault(key, [])
        if len(column) < self._batch_rows:
            column.extend([None] * (self._batch_rows - len(column)))
        column.append(values)
        self._batch_bytes += sum(map(len, values)) + 16

    def flush(self) -> None:
        """Write the current batch to a spill file and forget it."""
        if self._batch_rows == 0:
            return
        names, arrays = [], []
        for key, column in self._batch.items():
            column.extend([None] * (self._batch_rows - len(column)))
            names.append(key)
            arrays.append(pa.array(column, STRING_LIST))
        table = pa.table(arrays, names=names)
        self.files.append(write_batch(self.directory, len(self.files), table, "entries"))
        self._batch, self._batch_rows, self._batch_bytes = {}, 0, 0

    def write(self, path: Path, metadata: Mapping[str, str]) -> None:
        """The snapshot at ``path``: the batches again, one at a time, with the
        final column types."""
        self.flush()
        keys = list(self.names)
        fields = [pa.field(self.names[k], self._type(k)) for k in keys]
        schema = pa.schema(fields, metadata=dict(metadata))
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            for file in self.files:
                with pa.memory_map(str(file)) as source:
                    batch = pa.ipc.open_file(source).read_all()
                    arrays = [_final(batch, k, f.type) for k, f in zip(keys, fields, strict=True)]
                    writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
                    del batch, arrays
                file.unlink()

    def _type(self, key: str) -> pa.DataType:
        return STRING_LIST if self.is_list[key] or key in self.multi else STRING

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


def _final(batch: pa.Table, key: str, kind: pa.DataType) -> pa.Array:
    """One column of a spilled batch in its final type: the single value of a
    string column, the non-empty values of a list column (as ingest keeps them)."""
    if key not in batch.column_names:
        return pa.nulls(batch.num_rows, kind)
    column = batch.column(key).combine_chunks()
    if kind == STRING:
        return pc.list_element(column, 0)
    if pc.any(pc.equal(pc.list_flatten(column), "")).as_py():
        values = column.to_pylist()
        return pa.array(
            [None if v is None else [x for x in v if x != ""] for v in values], STRING_LIST
        )
    return column


# -- errors ---------------------------------------------------------------------------------


_RESULT_ADVICE = {
    3: ("the search stopped at the time limit", "raise time_limit (or the server's limit "
        "for the bind DN), or narrow base or filter"),
    4: ("the search stopped at the size limit", "raise size_limit (or the server's limit "
        "for the bind DN), or narrow base or filter"),
    11: ("the search stopped at the server's administrative limit", "ask for a higher "
         "limit for the bind DN, or narrow base or filter"),
    50: ("the bind DN may not search there", "check its access rights"),
}  # fmt: skip
"""Result codes (RFC 4511) that end a search: what happened, and what to do."""


def _search_failed(spec: LdapRead, result: Mapping[str, Any], seen: int) -> InputError:
    code = result.get("result")
    why = _describe(result)
    if code == 32:
        return _error(spec, f"the base {spec.base} does not exist ({why}); check base")
    if code == 10:
        refs = ", ".join(str(r) for r in result.get("referrals") or []) or "another server"
        return _error(
            spec,
            f"the search was referred to {refs} ({why}); recondiff does not follow "
            "referrals: point url and base at the server that holds the entries",
        )
    what, advice = _RESULT_ADVICE.get(code if isinstance(code, int) else -1, ("", ""))
    after = f" after {seen} entries" if seen else ""
    if what:
        return _error(spec, f"{what}{after} ({why}); {advice}")
    return _error(spec, f"the search failed{after} ({why})")


def _lost(spec: LdapRead, seen: int, reason: str) -> InputError:
    return _error(
        spec,
        f"the connection was lost after {seen} entries ({reason}); nothing was written, "
        "run again when the server is back",
    )


_VERIFY = re.compile(r"certificate verify failed: ([^()\]]*)", re.I)


def _connection_error(spec: LdapRead, exc: BaseException) -> InputError:
    """A failure to connect, secure or bind: TLS verification, or the server unreachable."""
    text = _text(exc)
    verify = _VERIFY.search(text)
    if verify or isinstance(exc, ldap_exc.LDAPCertificateError) or "doesn't match" in text:
        why = verify.group(1).strip() if verify else "it is not issued for this host name"
        return _error(
            spec,
            f"the server's TLS certificate was not accepted ({why}); give the CA that signed "
            "it with ca_file (--ca-file), or check the host name in the URL",
        )
    if isinstance(exc, ldap_exc.LDAPStartTLSError):
        return _error(spec, f"StartTLS failed ({text[:200]}); check that the server offers it")
    return _error(spec, f"cannot connect ({text[:200]}); check the URL and that the server is up")


def _describe(result: Mapping[str, Any] | None) -> str:
    """A server's answer as ``description, code: message``."""
    if not result:
        return "no answer"
    text = f"{result.get('description') or 'error'}, {result.get('result')}"
    message = " ".join(str(result.get("message") or "").split())
    return f"{text}: {message}" if message else text


def _text(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def _where(spec: LdapRead) -> str:
    """The URL without any ``user:password@``."""
    parts = urlsplit(spec.url)
    if "@" not in parts.netloc:
        return spec.url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _error(spec: LdapRead, text: str) -> InputError:
    """One line naming the URL; the password, should any text carry it, hidden."""
    line = f"{_where(spec)}: {text}"
    if spec.password:
        line = line.replace(spec.password, "***")
    return InputError(line)
