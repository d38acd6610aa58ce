"""``[[notify]]``: where a run's news goes (docs/notify.md).

Each table is one target, an Apprise URL (mail, a JSON webhook, Teams, Slack,
...), what it is sent (``on``) and where its secret comes from. The file never
holds a secret: a password in the URL, or a query key that names one
(``?pass=``, ``?token=``), is refused at load; the secret is read from the
environment variable ``secret_env`` names when a message is sent, and goes
either where the URL says ``{secret}`` or, without one, in the password slot of
the URL's user. Everything else is checked here, so that a mistyped target is
exit 2 before the run, not a message lost after it.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from recondiff.config.section import Section, hint
from recondiff.errors import ConfigError
from recondiff.vocabulary import SITUATIONS

NOTIFY_ON = ("alerts", "differences", "do_nothing", "failure", "always")
"""What a target can be sent (docs/notify.md): a run with alerts (or stale
inputs), with differences, with do-nothing cases, a failed run (exit 2 or 3),
or every run."""

DEFAULT_ON = ("alerts", "failure")
SECRET = "{secret}"  # where secret_env's value goes in a URL
DEFAULT_ATTACHMENT_KB = 512
MAX_ATTACHMENT_KB = 10_240

# A query key (or a JSON webhook's ``+Header=``, ``:field=``) whose name holds one
# of these carries a credential: its value in the file must be {secret}.
_SECRET_WORDS = ("pass", "pwd", "secret", "token", "key", "auth", "cookie", "session",
                 "signature", "credential", "bearer")
# a value that only chooses (ntfy ?auth=token, mqtt ?session=no) says no secret;
# nor does a key that names a file (mailto ?pgpkey=/path/to/key.asc)
_NOT_SECRETS = frozenset({"yes", "no", "true", "false", "on", "off", "0", "1", "y", "n",
                          "token", "basic", "bearer", "digest", "header", "query", "none"})
_PATH_KEYS = frozenset({"pgpkey", "pgp_key", "keyfile", "key_file", "cafile", "ca_file"})
_SENTINEL = "rdSecretSentinel0"  # {secret} while the URL is checked (letters only: any slot)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_LABEL = re.compile(r"[\w .,:@()\[\]/+-]{1,80}\Z")


class MissingSecret(Exception):
    """secret_env names a variable the environment does not have (or has empty)."""


@dataclass(frozen=True)
class NotifyTarget:
    """One ``[[notify]]`` table, checked."""

    index: int  # its position in the file, from 1
    url: str  # as written: holds no secret, maybe ``{secret}``
    on: tuple[str, ...] = DEFAULT_ON
    situations: tuple[str, ...] = ()
    secret_env: str | None = None
    label: str = ""  # what stderr and summary.json call it: `name`, or one made safe
    max_attachment_kb: int = DEFAULT_ATTACHMENT_KB
    tls_unverified: bool = False  # ?verify=no: said on stderr at every run (even with -q)

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0].lower()

    def url_with_secret(self, environ: Mapping[str, str] | None = None) -> tuple[str, str | None]:
        """The URL to send to and the secret in it (to be kept out of anything
        said about the target). Raises :class:`MissingSecret`."""
        if self.secret_env is None:
            return self.url, None
        value = (os.environ if environ is None else environ).get(self.secret_env, "")
        if not value:
            raise MissingSecret(
                f"environment variable {self.secret_env} (secret_env) is not set; "
                "set it where recondiff runs"
            )
        if not value.isprintable():  # a line break would be said back, escaped, by a client
            raise MissingSecret(
                f"environment variable {self.secret_env} (secret_env) holds a line break or "
                "another control character; set it to the secret alone"
            )
        return _with_secret(self.url, value), value


def parse_notify(file: Path, raw: Any) -> tuple[NotifyTarget, ...]:
    """The ``[[notify]]`` tables, in file order."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{file}: notify must be an array of tables: write [[notify]], "
                          "one per target")
    return tuple(_target(file, i, t) for i, t in enumerate(raw, 1))


def _target(file: Path, index: int, raw: Any) -> NotifyTarget:
    where = f"[[notify]] #{index}"
    s = Section(file, where, raw)
    url = s.req_string("url").strip()
    on = s.strings("on")
    situations = s.strings("situations") or ()
    secret_env = s.string("secret_env")
    name = s.string("name")
    kb = s.integer("max_attachment_kb", maximum=MAX_ATTACHMENT_KB)
    s.finish()
    if on is not None:
        if not on:
            raise s.err("on", f"is empty; give one or more of {', '.join(NOTIFY_ON)}")
        for what in on:
            if what not in NOTIFY_ON:
                raise s.err("on", f"{what!r} is not one of {', '.join(NOTIFY_ON)}"
                                  f"{hint(what, NOTIFY_ON)}")
    for situation in situations:
        if situation not in SITUATIONS:
            raise s.err("situations", f"{situation!r} is not a situation "
                                      f"({', '.join(SITUATIONS)}){hint(situation, SITUATIONS)}")
    if secret_env is not None and not _ENV_NAME.match(secret_env):
        raise s.err("secret_env", f"{secret_env!r} is not an environment variable name "
                                  "(letters, digits and _, not starting with a digit)")
    if name is not None and not _LABEL.match(name):
        raise s.err("name", "must be 1 to 80 letters, digits, spaces or . , : @ ( ) [ ] / + - _")
    _check_url(s, url, secret_env)
    return NotifyTarget(
        index=index,
        url=url,
        on=tuple(dict.fromkeys(on or DEFAULT_ON)),
        situations=tuple(dict.fromkeys(situations)),
        secret_env=secret_env,
        label=name or _label(index, url),
        max_attachment_kb=kb or DEFAULT_ATTACHMENT_KB,
        tls_unverified=any(k == "verify" and v.strip().lower() in ("no", "false", "0", "off", "n")
                           for k, v in _query(url)),
    )


def _check_url(s: Section, url: str, secret_env: str | None) -> None:
    """A URL Apprise knows, with no secret written in it: not in the password
    slot, not in a query key that names one (read as Apprise reads a query:
    split on ``&`` and ``;``, a ``#`` no end, keys stripped), and not in any
    part Apprise itself masks as private (a token in the path: Slack, Discord,
    Telegram), unless that part is {secret}."""
    if "://" not in url or not url.split("://", 1)[0].isidentifier():
        raise s.err("url", "is not an Apprise URL like mailtos://user@mail.example.org or "
                           "json://hooks.example.org/recondiff")
    if any(c in url for c in "\r\n\t ") or not url.isprintable():
        raise s.err("url", "holds a space or a control character; percent-encode it")
    placeholder = SECRET in url
    try:
        parts = urlsplit(url.replace(SECRET, _SENTINEL))
        password = parts.password
    except ValueError:
        raise s.err("url", "is not a valid URL; check its host and port") from None
    if password is not None and password != _SENTINEL:
        raise s.err("url", "holds a password; the file must not: put it in an environment "
                           "variable and name that in secret_env")
    for key, value in _query(url):
        if (any(w in key for w in _SECRET_WORDS) and value and SECRET not in value
                and value.lower() not in _NOT_SECRETS and key not in _PATH_KEYS):
            raise s.err("url", f"?{key}= holds a secret; the file must not: write "
                               f"?{key}={SECRET} and name an environment variable in secret_env")
    if placeholder and secret_env is None:
        raise s.err("url", f"says {SECRET} but no secret_env names the variable that holds it")
    if secret_env is not None and not placeholder and not parts.username:
        raise s.err("secret_env", f"the url has no user to give the password to; write "
                                  f"{SECRET} in the url where the secret goes")
    probe = (url.replace(SECRET, _SENTINEL) if placeholder
             else _with_secret(url, _SENTINEL) if secret_env else url)
    view = _apprise_view(probe, placeholder)
    if not view.known:
        raise s.err("url", f"Apprise cannot send to it (scheme {url.split('://', 1)[0]!r}, "
                           "or a part missing); see the URL forms of "
                           "https://github.com/caronc/apprise/wiki")
    if view.private:
        raise s.err("url", "holds a part Apprise keeps private (a token in the path or the "
                           f"host?); the file must not: write {SECRET} there and put the "
                           "value in the environment variable secret_env names")
    if secret_env is not None and view.clear_host:
        raise s.err("url", f"would send the secret to {view.clear_host} without TLS; use the "
                           "scheme's TLS form (mailtos://, jsons://, ...)")


def _query(url: str) -> list[tuple[str, str]]:
    """The URL's query as Apprise reads it: keys lower-cased and stripped (of
    spaces and the ``+``/``:``/``-`` prefixes of headers and payload fields)."""
    if "?" not in url:
        return []
    pairs = []
    for item in re.split(r"[&;#]", url.split("?", 1)[1]):
        key, _, value = item.partition("=")
        pairs.append((unquote(key).strip().lower().lstrip("+:-").strip(), unquote(value)))
    return pairs


def _with_secret(url: str, value: str) -> str:
    """``url`` with ``value`` where it says ``{secret}``, or as its user's
    password. Percent-encoded whole in the user's part (a ``/`` there would end
    it); elsewhere ``/``, ``:`` and ``@`` are kept, for services whose token is
    a path or an authority (``slack://{secret}`` with ``T.../B.../...``,
    ``tgram://{secret}/CHAT`` with ``BOT:TOKEN``, ``pover://{secret}`` with
    ``USER@TOKEN``)."""
    scheme, rest = url.split("://", 1)
    if SECRET in url:
        authority = re.split(r"[/?#]", rest.replace(SECRET, _SENTINEL), maxsplit=1)[0]
        in_user = "@" in authority.partition(_SENTINEL)[2]
        return url.replace(SECRET, quote(value, safe="" if in_user else "/:@"))
    userinfo, _, host = rest.partition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:{quote(value, safe='')}@{host}"


@dataclass(frozen=True)
class _View:
    """What Apprise makes of a URL (a {secret} put in as the sentinel)."""

    known: bool  # Apprise can send to it (or, with {secret} it cannot parse yet, knows its scheme)
    private: bool  # a part Apprise keeps private holds something else than the sentinel
    clear_host: str | None = None  # the host it would reach without TLS, if not this machine


def _apprise_view(url: str, placeholder: bool) -> _View:
    """Apprise's own view of ``url``: the plugin's parse (which validates
    nothing) says which of its tokens and arguments are private, and each must
    be the sentinel; where the plugin also makes a target, every part its
    ``url(privacy=True)`` masks must be too, and its ``secure`` says whether
    it would speak TLS. A URL whose {secret} stands for a token of the
    service's own form (``slack://{secret}``) cannot be made a target before
    the secret is known: then its scheme and its parse are checked."""
    import apprise
    from apprise.manager_plugins import NotificationManager

    quiet_apprise()
    scheme = url.split("://", 1)[0].lower()
    manager = NotificationManager()  # type: ignore[no-untyped-call]
    if scheme not in manager.schemas():  # type: ignore[no-untyped-call]
        return _View(False, False)
    private = _private_literal(manager[scheme], url)
    target = apprise.Apprise.instantiate(url)
    if target is None:
        return _View(placeholder, private)
    full = re.split(r"[/?&=:@]", target.url(privacy=False))  # type: ignore[no-untyped-call]
    masked = re.split(r"[/?&=:@]", target.url(privacy=True))  # type: ignore[no-untyped-call]
    private = private or len(full) != len(masked) or any(
        f != m and _SENTINEL not in f for f, m in zip(full, masked, strict=True))
    clear = _plain_form(manager[scheme], scheme) and not _starttls(target)
    return _View(True, private, _remote(target) if clear else None)


def _private_literal(plugin: Any, url: str) -> bool:
    """Whether the plugin's parse of ``url`` puts anything but the sentinel
    in a token or argument its templates mark private."""
    try:
        parsed = plugin.parse_url(url) or {}
    except Exception:  # a plugin that cannot parse it: Apprise will refuse it anyway
        return False
    names = set()
    for table in (getattr(plugin, "template_tokens", {}), getattr(plugin, "template_args", {})):
        for name, spec in table.items():
            if isinstance(spec, dict) and spec.get("private"):
                names |= {name, spec.get("map_to") or name, spec.get("alias_of") or name}
    for name in names:
        value = parsed.get(name)
        values = value if isinstance(value, list | tuple | set) else [value]
        if any(v and _SENTINEL not in str(v) for v in values):
            return True
    return False


def _plain_form(plugin: Any, scheme: str) -> bool:
    """Whether ``scheme`` is the plain form of a service that has a TLS one
    (mailto/mailtos, json/jsons): a service with one form only speaks to its
    own HTTPS API (slack, pushme)."""
    def forms(value: Any) -> tuple[str, ...]:
        return (value,) if isinstance(value, str) else tuple(value or ())

    secure = forms(getattr(plugin, "secure_protocol", None))
    return bool(secure) and scheme in forms(getattr(plugin, "protocol", None)) \
        and scheme not in secure


def _starttls(target: Any) -> bool:
    """mailto://...?mode=starttls upgrades the plain port."""
    return str(getattr(target, "secure_mode", "")).lower() in ("starttls", "ssl")


def _remote(target: Any) -> str | None:
    """The target's host unless it is this machine (loopback)."""
    host = str(getattr(target, "host", "") or "")
    if host == "localhost":
        return None
    try:
        return None if ipaddress.ip_address(host).is_loopback else host
    except ValueError:
        return host or None


def quiet_apprise() -> None:
    """Apprise logs to the ``apprise`` logger, sometimes with a URL and its
    secret in the line; with no handler, Python's last resort would print
    warnings to stderr. Nothing of Apprise's reaches stderr: recondiff says
    what failed itself (recondiff/notify/send.py captures the lines)."""
    logger = logging.getLogger("apprise")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    logger.propagate = False


def _label(index: int, url: str) -> str:
    """``#N (scheme://host)``: the host only where it is a host name or
    an address, never a path or a token (slack://TokenA/... has none)."""
    scheme = url.split("://", 1)[0].lower()
    try:
        host = urlsplit(url.replace(SECRET, "x")).hostname or ""
    except ValueError:
        host = ""
    if not _is_host(host):
        return f"#{index} ({scheme})"
    return f"#{index} ({scheme}://{host})"


def _is_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return "." in host and all(p and re.fullmatch(r"[a-z0-9-]+", p)
                                   for p in host.split("."))
