"""The LDAP connection ``apply`` sends a plan's events over (ldap3).

:func:`connect` opens, secures (ldaps:// or StartTLS, the server's certificate
verified) and binds from an :class:`LdapTarget`; :class:`Transport` sends one
request at a time and reads its answer, turning a broken connection or a busy
server into :class:`Lost` (the run stops; a re-run resumes from the journal).
It knows nothing of plans: :mod:`recondiff.apply.runner` decides what to send.
"""

from __future__ import annotations

import contextlib
import re
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import ldap3
from ldap3.core import exceptions as ldap_exc

from recondiff.errors import RecondiffError
from recondiff.plan.assertions import ASSERTION_CONTROL

UNAVAILABLE_RESULTS = {51: "busy", 52: "unavailable"}
"""The server could not take the operation now: stop, the re-run resumes."""


class LdapError(RecondiffError):
    """Cannot connect, bind, or keep the connection to the LDAP server."""


@dataclass(frozen=True)
class LdapTarget:
    """Where to apply: ``ldap://`` or ``ldaps://`` URL, simple bind, optional StartTLS."""

    url: str
    bind_dn: str
    password: str = field(repr=False)
    starttls: bool = False
    ca_file: Path | None = None
    timeout: float = 30.0
    allow_plaintext: bool = False
    """Send the password over ``ldap://`` without StartTLS (``--allow-plaintext``)."""


class Lost(Exception):
    """The connection broke during an operation (becomes an :class:`LdapError`)."""


CONNECTION_ERRORS = (
    ldap_exc.LDAPCommunicationError,
    ldap_exc.LDAPResponseTimeoutError,
    ldap_exc.LDAPMaximumRetriesError,
    ldap_exc.LDAPSocketOpenError,
    OSError,
)


def _server(target: LdapTarget) -> ldap3.Server:
    parts = urlsplit(target.url)
    scheme = parts.scheme.lower()
    if scheme not in ("ldap", "ldaps") or not parts.hostname:
        raise LdapError(
            f"{target.url}: not an LDAP URL; use ldap://HOST[:PORT] or ldaps://HOST[:PORT]"
        )
    if parts.path not in ("", "/") or parts.query:
        raise LdapError(f"{target.url}: give only the server (ldap://HOST:PORT), not a DN or query")
    if scheme == "ldaps" and target.starttls:
        raise LdapError(f"{target.url}: StartTLS is for ldap:// URLs; ldaps:// is TLS already")
    try:
        port = parts.port or (636 if scheme == "ldaps" else 389)
    except ValueError:
        raise LdapError(f"{target.url}: the port is not a number") from None
    tls = None
    if scheme == "ldaps" or target.starttls:
        if target.ca_file is not None and not Path(target.ca_file).is_file():
            raise LdapError(f"{target.ca_file}: no such CA file (--ca-file)")
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED,
            ca_certs_file=str(target.ca_file) if target.ca_file else None,
            sni=parts.hostname,
        )
    return ldap3.Server(
        unquote(parts.hostname),
        port=port,
        use_ssl=scheme == "ldaps",
        tls=tls,
        get_info=ldap3.NONE,
        connect_timeout=target.timeout,
    )


def connect(target: LdapTarget, *, read_only: bool = False) -> ldap3.Connection:
    """Open, secure and bind; any failure is one :class:`LdapError` line naming the URL."""
    if not target.password:
        raise LdapError(f"{target.url}: the bind password is empty; give the service account's")
    server = _server(target)
    if not server.ssl and not target.starttls and not target.allow_plaintext:
        raise LdapError(
            f"{target.url}: refusing to send the bind password unencrypted over ldap://; "
            "add --starttls or use ldaps://, or accept that anyone on the network path "
            "can read it with --allow-plaintext"
        )
    conn = ldap3.Connection(
        server,
        user=target.bind_dn,
        password=target.password,
        auto_bind=ldap3.AUTO_BIND_NONE,
        raise_exceptions=False,
        read_only=read_only,
        check_names=False,
        auto_referrals=False,
        receive_timeout=max(1, round(target.timeout)),
    )
    try:
        conn.open()
        if target.starttls and not conn.start_tls():
            raise LdapError(f"{target.url}: StartTLS failed ({describe(conn.result)})")
        if not conn.bind():
            raise LdapError(
                f"{target.url}: bind as {target.bind_dn} failed ({describe(conn.result)})"
            )
    except LdapError:
        _unbind(conn)
        raise
    except (ldap_exc.LDAPException, OSError) as exc:
        _unbind(conn)
        raise LdapError(f"{target.url}: cannot connect ({exception_text(exc)})") from None
    return conn


def _unbind(conn: ldap3.Connection) -> None:
    with contextlib.suppress(Exception):
        conn.unbind()


def exception_text(exc: BaseException) -> str:
    """An exception as one line of at most 300 characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def describe(result: dict[str, Any] | None) -> str:
    """A server's answer as ``description (code): message``."""
    if not result:
        return "no answer"
    code = result.get("result")
    text = f"{result.get('description') or 'error'} ({code})"
    message = " ".join(str(result.get("message") or "").split())
    return f"{text}: {message}" if message else text


def _found(conn: ldap3.Connection) -> dict[str, list[bytes]]:
    """The raw values of the entry the last (base) search found, by lower-cased name."""
    if not conn.response:
        return {}
    raw: dict[str, list[bytes]] = conn.response[0].get("raw_attributes", {})
    return {name.lower(): values for name, values in raw.items()}


class SearchFailed(Exception):
    """A base search the server answered with an error other than noSuchObject."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(describe(result))
        self.result = result
        self.code: int | None = result.get("result")


Control = tuple[str, bool, bytes]


class Transport:
    """A bound connection: one request at a time, each answer read back."""

    def __init__(self, conn: ldap3.Connection) -> None:
        self.conn = conn
        self._memberof: bool | None = None

    def close(self) -> None:
        """Unbind (whatever state the connection is in)."""
        _unbind(self.conn)

    def supports_assertion(self) -> bool:
        """The root DSE lists the assertion control."""
        conn = self.conn
        ok = conn.search("", "(objectClass=*)", ldap3.BASE, attributes=["supportedControl"])
        return bool(ok) and ASSERTION_CONTROL.encode() in _found(conn).get("supportedcontrol", [])

    def call(self, operation: Callable[[], Any], event_id: str) -> dict[str, Any]:
        """Run ``operation`` (one request) and return the server's answer.

        :class:`Lost` when the connection broke, no answer came or the server
        is busy or unavailable; ``result`` None when ldap3 refused to send it."""
        try:
            operation()
        except CONNECTION_ERRORS as exc:
            raise Lost(f"{exception_text(exc)} during {event_id}") from None
        except ldap_exc.LDAPException as exc:
            # Refused by ldap3 before anything was sent (say, an add without objectClass).
            return {"result": None, "description": "not sent", "message": exception_text(exc)}
        result: dict[str, Any] = dict(self.conn.result or {})
        if not result:
            raise Lost(f"no answer to {event_id}")
        if result.get("result") in UNAVAILABLE_RESULTS:
            raise Lost(f"the server answered {describe(result)} to {event_id}")
        return result

    def add(self, dn: str, changes: Sequence[dict[str, Any]], event_id: str) -> dict[str, Any]:
        attributes = _add_attributes(changes)
        return self.call(lambda: self.conn.add(dn, attributes=attributes), event_id)

    def delete(self, dn: str, controls: list[Control] | None, event_id: str) -> dict[str, Any]:
        return self.call(lambda: self.conn.delete(dn, controls=controls), event_id)

    def modify(
        self,
        dn: str,
        changes: Sequence[dict[str, Any]],
        controls: list[Control] | None,
        event_id: str,
    ) -> dict[str, Any]:
        grouped = _modify_changes(changes)
        return self.call(lambda: self.conn.modify(dn, grouped, controls=controls), event_id)

    def exists(self, dn: str, filter_text: str | None, event_id: str) -> bool | None:
        """Base search: True if ``dn`` matches, False if it does not, None if no such entry."""
        result = self.call(
            lambda: self.conn.search(
                dn, filter_text or "(objectClass=*)", ldap3.BASE, attributes=["1.1"]
            ),
            event_id,
        )
        code = result.get("result")
        if code == 32:
            return None
        if code != 0:
            raise SearchFailed(result)
        return bool(self.conn.response)

    def values(self, dn: str, attributes: Sequence[str], event_id: str) -> dict[str, list[str]]:
        """Base search: the entry's values of ``attributes`` by lower-cased name ({}: none)."""
        result = self.call(
            lambda: self.conn.search(
                dn, "(objectClass=*)", ldap3.BASE, attributes=list(attributes)
            ),
            event_id,
        )
        if result.get("result") != 0:
            return {}
        return {
            name: [v.decode("utf-8", "replace") for v in values]
            for name, values in _found(self.conn).items()
        }

    def server_has_memberof(self, event_id: str) -> bool:
        """The server computes ``memberOf`` (its schema defines it: slapd's memberof
        overlay, AD); asked once per run."""
        if self._memberof is None:
            self._memberof = False
            root = self.call(
                lambda: self.conn.search(
                    "", "(objectClass=*)", ldap3.BASE, attributes=["subschemaSubentry"]
                ),
                event_id,
            )
            where = _found(self.conn).get("subschemasubentry", [])
            if root.get("result") == 0 and where:
                base = where[0].decode("utf-8", "replace")
                self.call(
                    lambda: self.conn.search(
                        base, "(objectClass=subschema)", ldap3.BASE, attributes=["attributeTypes"]
                    ),
                    event_id,
                )
                types = _found(self.conn).get("attributetypes", [])
                self._memberof = any(
                    re.search(rb"NAME\s+(?:\(\s*)?(?:'[^']*'\s+)*'memberOf'", t, re.I)
                    for t in types
                )
        return self._memberof


def _modify_changes(changes: Sequence[dict[str, Any]]) -> dict[str, list[tuple[str, list[str]]]]:
    ops = {"add": ldap3.MODIFY_ADD, "delete": ldap3.MODIFY_DELETE, "replace": ldap3.MODIFY_REPLACE}
    grouped: dict[str, list[tuple[str, list[str]]]] = {}
    for change in changes:
        grouped.setdefault(change["attribute"], []).append(
            (ops[change["op"]], list(change["values"]))
        )
    return grouped


def _add_attributes(changes: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    attributes: dict[str, list[str]] = {}
    for change in changes:
        attributes.setdefault(change["attribute"], []).extend(change["values"])
    return attributes
