"""``[endpoint.source]`` and ``[repository.source]``: a live system compare
explores instead of reading an export (docs/explore.md).

A source names where to read (an LDAP directory, or for the repository a
PostgreSQL database and its query) and how to authenticate. The password never
sits in the config: it comes from an environment variable (``password_env``)
or a file (``password_file``), read only when the source is explored
(:meth:`SourceConfig.password`). A password written into the URL is refused.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from recondiff.config.section import Section
from recondiff.errors import ConfigError

SOURCE_KINDS = ("ldap", "postgresql")
SEARCH_SCOPES = ("base", "one", "subtree")
_SCHEMES = {"ldap": ("ldap", "ldaps"), "postgresql": ("postgresql", "postgres")}
MAX_PASSWORD_FILE = 64 << 10


@dataclass(frozen=True)
class SourceConfig:
    """One ``[*.source]`` table, checked. ``where`` names it in messages
    (``FILE: [endpoint.source]``)."""

    kind: str
    url: str
    where: str
    base: str | None = None
    search_scope: str = "subtree"
    filter: str = "(objectClass=*)"
    bind_dn: str | None = None
    password_env: str | None = None
    password_file: Path | None = None
    start_tls: bool = False
    ca_file: Path | None = None
    insecure_skip_tls_verify: bool = False
    page_size: int = 500
    size_limit: int = 0
    time_limit: int = 0
    attributes: tuple[str, ...] = ()
    query: str | None = field(default=None, repr=False)
    keep_snapshots: int = 10

    def password(self) -> str | None:
        """The password from ``password_env`` or ``password_file`` (None with neither).
        Raises :class:`ConfigError` naming the key (never the value)."""
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            if value is None:
                raise ConfigError(
                    f"{self.where} password_env: the environment variable {self.password_env} "
                    "is not set; export it before the run"
                )
            return value
        if self.password_file is not None:
            return _read_password_file(self.where, self.password_file)
        return None


def _read_password_file(where: str, path: Path) -> str:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_PASSWORD_FILE:
            raise ConfigError(f"{where} password_file: {path} is not a small plain file")
        text = path.read_text(encoding="utf-8")
    except ConfigError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"{where} password_file: cannot read {path} ({why})") from None
    return text.rstrip("\r\n")  # one trailing newline, as editors write it


def parse_source(file: Path, side: str, raw: Any) -> SourceConfig:
    """``[endpoint.source]`` (``side`` = "endpoint") or ``[repository.source]``."""
    where = f"[{side}.source]"
    s = Section(file, where, raw)
    kind = s.choice("kind", SOURCE_KINDS, "ldap") or "ldap"
    if kind == "postgresql" and side != "repository":
        raise s.err("kind", "postgresql is a repository source; the endpoint is a directory")
    url = s.req_string("url")
    _check_url(s, kind, url)
    source = SourceConfig(
        kind=kind,
        url=url,
        where=f"{file}: {where}",
        base=s.string("base"),
        search_scope=s.choice("search_scope", SEARCH_SCOPES, "subtree") or "subtree",
        filter=s.string("filter", default="(objectClass=*)") or "(objectClass=*)",
        bind_dn=s.string("bind_dn"),
        password_env=s.string("password_env"),
        password_file=_path(file, s.string("password_file")),
        start_tls=s.boolean("start_tls", False),
        ca_file=_path(file, s.string("ca_file")),
        insecure_skip_tls_verify=s.boolean("insecure_skip_tls_verify", False),
        page_size=s.integer("page_size", 1, 100_000) or 500,
        size_limit=s.integer("size_limit", 0) or 0,
        time_limit=s.integer("time_limit", 0, 86_400) or 0,
        attributes=s.strings("attributes") or (),
        query=s.string("query"),
        keep_snapshots=s.integer("keep_snapshots", 1, 10_000) or 10,
    )
    s.finish()
    _check_kind_keys(s, raw, source)
    if source.password_env is not None and source.password_file is not None:
        raise s.err("password_env", "give password_env or password_file, not both")
    return source


_LDAP_ONLY = ("base", "search_scope", "filter", "bind_dn", "start_tls", "page_size",
              "size_limit", "time_limit", "attributes")  # fmt: skip


def _check_kind_keys(s: Section, raw: dict[str, Any], source: SourceConfig) -> None:
    if source.kind == "ldap":
        if source.base is None:
            raise s.err("base", "is required for an LDAP source (the search base DN)")
        if source.query is not None:
            raise s.err("query", "belongs to a postgresql source; an LDAP source has filter")
        if source.start_tls and urlsplit(source.url).scheme.lower() == "ldaps":
            raise s.err("start_tls", "is for ldap:// URLs; ldaps:// is TLS already")
        return
    if source.query is None:
        raise s.err("query", "is required for a postgresql source (one SELECT)")
    for key in _LDAP_ONLY:
        if key in raw:
            raise s.err(key, "belongs to an LDAP source, not a postgresql one")


def _check_url(s: Section, kind: str, url: str) -> None:
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
    except ValueError:
        raise s.err("url", "is not a URL") from None
    if parts.scheme.lower() not in _SCHEMES[kind]:
        schemes = " or ".join(f"{x}://" for x in _SCHEMES[kind])
        raise s.err("url", f"must start with {schemes} for a {kind} source")
    params = {k.strip().lower() for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if has_password or params & {"password", "sslpassword"}:
        raise s.err(
            "url",
            "holds a password; never write one into the config: use password_env or password_file",
        )


def _path(file: Path, value: str | None) -> Path | None:
    return None if value is None else file.parent / value
